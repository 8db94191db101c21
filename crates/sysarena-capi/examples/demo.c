/* sysarena from C: init, alloc, free, realloc, defragment, stats, and the
 * error codes of bad calls. Exits 0 when every check passes; prints what it
 * did. Built and run by crates/sysarena-capi/tests/c_demo.rs:
 *   cc demo.c -Iinclude libsysarena_capi.a -lpthread -ldl -lm */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sysarena.h"

static _Alignas(64) unsigned char region[1 << 20];

static int failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "demo.c:%d: check failed: %s (last error: %s)\n",    \
              __LINE__, #cond, sysarena_strerror(sysarena_last_error()));  \
      failures++;                                                          \
    }                                                                      \
  } while (0)

static void print_stats(const char *when) {
  SysarenaStats s;
  CHECK(sysarena_stats(&s) == SYSARENA_OK);
  printf("%-22s capacity %zu, free %zu (largest %zu), %zu in use, %zu free arenas, %zu spare descriptors\n",
         when, s.capacity, s.free_bytes, s.largest_free, s.used_arenas,
         s.free_arenas, s.spare_descriptors);
}

int main(void) {
  /* Before init every call says so. */
  CHECK(sysarena_alloc(16) == NULL);
  CHECK(sysarena_last_error() == SYSARENA_E_NOT_INITIALIZED);
  CHECK(sysarena_defragment() == SYSARENA_E_NOT_INITIALIZED);

  CHECK(sysarena_init(NULL, 100) == SYSARENA_E_NULL);
  CHECK(sysarena_init(region, sizeof region) == SYSARENA_OK);
  CHECK(sysarena_init(region, sizeof region) == SYSARENA_E_ALREADY_INITIALIZED);
  print_stats("after init:");

  /* Allocate a row of blocks and fill them. */
  enum { COUNT = 64 };
  char *blocks[COUNT];
  for (int i = 0; i < COUNT; i++) {
    blocks[i] = sysarena_alloc(1000 + (size_t)i);
    CHECK(blocks[i] != NULL);
    CHECK((uintptr_t)blocks[i] % SYSARENA_MIN_ALIGN == 0);
    memset(blocks[i], i, 1000 + (size_t)i);
  }
  void *page = sysarena_alloc_aligned(100, 4096);
  CHECK(page != NULL && (uintptr_t)page % 4096 == 0);
  print_stats("after 65 allocations:");

  /* Free every other block, then check the rest kept their bytes. */
  for (int i = 0; i < COUNT; i += 2) CHECK(sysarena_free(blocks[i]) == SYSARENA_OK);
  for (int i = 1; i < COUNT; i += 2)
    for (int j = 0; j < 1000 + i; j++) CHECK(blocks[i][j] == (char)i);
  print_stats("after freeing half:");

  /* Bad calls are reported, and change nothing. */
  CHECK(sysarena_free(blocks[0]) == SYSARENA_E_DOUBLE_FREE ||
        sysarena_last_error() == SYSARENA_E_INVALID_FREE);
  CHECK(sysarena_free(blocks[1] + 1) == SYSARENA_E_INVALID_FREE);
  int on_stack;
  CHECK(sysarena_free(&on_stack) == SYSARENA_E_INVALID_FREE);
  CHECK(sysarena_alloc_aligned(8, 48) == NULL);
  CHECK(sysarena_last_error() == SYSARENA_E_BAD_ALIGN);
  CHECK(sysarena_alloc(sizeof region * 2) == NULL);
  CHECK(sysarena_last_error() == SYSARENA_E_TOO_LARGE);
  CHECK(sysarena_alloc(sizeof region - 4096) == NULL);
  CHECK(sysarena_last_error() == SYSARENA_E_OUT_OF_MEMORY);
  CHECK(sysarena_stats(NULL) == SYSARENA_E_NULL);
  CHECK(sysarena_check() == SYSARENA_OK);
  printf("bad calls rejected:    %s / %s / %s\n",
         sysarena_strerror(SYSARENA_E_DOUBLE_FREE),
         sysarena_strerror(SYSARENA_E_INVALID_FREE),
         sysarena_strerror(SYSARENA_E_BAD_ALIGN));

  /* realloc keeps the bytes, in place when it can. */
  char *r = sysarena_realloc(blocks[1], 500);
  CHECK(r == blocks[1]);
  r = sysarena_realloc(r, 100000);
  CHECK(r != NULL);
  for (int j = 0; j < 500; j++) CHECK(r[j] == 1);
  blocks[1] = r;

  /* Free everything; defragment compacts the table. */
  for (int i = 1; i < COUNT; i += 2) CHECK(sysarena_free(blocks[i]) == SYSARENA_OK);
  CHECK(sysarena_free(page) == SYSARENA_OK);
  int merged = sysarena_defragment();
  CHECK(merged >= 0);
  SysarenaStats s;
  CHECK(sysarena_stats(&s) == SYSARENA_OK);
  CHECK(s.free_bytes == sizeof region && s.used_arenas == 0 && s.free_arenas == 1);
  print_stats("after freeing all:");
  CHECK(sysarena_check() == SYSARENA_OK);

  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("demo.c: all checks passed\n");
  return 0;
}
