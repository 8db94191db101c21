/* sysarena's C ABI for foreign memory: a block of offsets managing a
 * simulated device buffer (a plain malloc'ed block standing in for GPU
 * memory), with its tables in memory we give it. We fragment it, run
 * defragmentation passes, carry out each planned move with memmove (as a
 * device copy would), and check every allocation's bytes after each pass.
 * Every check prints on failure; the last line says whether all passed.
 *
 * Build: cc -std=c11 -Wall -Wextra -Werror block.c -Iinclude
 *        libsysarena_capi.a -lpthread -ldl -lm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysarena.h"

#define CAPACITY (64u * 1024u) /* bytes of "device memory" */
#define BLOCKS 60
#define MOVES 16

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            failures++;                                                    \
        }                                                                  \
    } while (0)

#define CHECK_RC(call, want)                                               \
    do {                                                                   \
        int32_t rc_ = (call);                                              \
        if (rc_ != (want)) {                                               \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %d\n",       \
                    __FILE__, __LINE__, #call, (int)rc_,                   \
                    sysarena_strerror(rc_), (int)(want));                  \
            failures++;                                                    \
        }                                                                  \
    } while (0)

struct alloc {
    uint64_t handle;
    size_t size;
    int live;
};

static unsigned char pattern(int id, size_t k) {
    return (unsigned char)((unsigned)id * 31u + (unsigned)k * 7u + 1u);
}

/* Every live allocation still holds its bytes at its current offset. */
static int verify(SysarenaBlock *b, const unsigned char *dev,
                  const struct alloc *a) {
    int bad = 0;
    for (int i = 0; i < BLOCKS; i++) {
        if (!a[i].live)
            continue;
        size_t off = 0;
        CHECK_RC(sysarena_block_offset(b, a[i].handle, &off), SYSARENA_OK);
        for (size_t k = 0; k < a[i].size; k++) {
            if (dev[off + k] != pattern(i, k)) {
                bad++;
                break;
            }
        }
    }
    CHECK(bad == 0);
    return bad;
}

int main(void) {
    size_t need = sysarena_block_size_for(256, 128, MOVES);
    CHECK(need > 0);
    CHECK(sysarena_block_size_for(0, 128, MOVES) == 0);
    void *mem = malloc(need); /* the block's tables: ours, not the device's */
    unsigned char *dev = malloc(CAPACITY); /* the simulated device buffer */
    if (mem == NULL || dev == NULL)
        return 1;

    SysarenaBlock *b = NULL;
    CHECK_RC(sysarena_block_init(NULL, need, CAPACITY, 256, 128, MOVES, &b),
             SYSARENA_E_NULL);
    CHECK_RC(sysarena_block_init(mem, need - 64, CAPACITY, 256, 128, MOVES, &b),
             SYSARENA_E_BAD_ARGUMENT);
    CHECK_RC(sysarena_block_init(mem, need, CAPACITY, 256, 128, MOVES, &b),
             SYSARENA_OK);
    CHECK(b != NULL);

    /* Allocate, and write each allocation's bytes on the "device". */
    struct alloc a[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        size_t off = 0;
        a[i].size = 200 + (size_t)(i * 97) % 700;
        size_t align = (i % 5 == 0) ? 64 : 16;
        CHECK_RC(sysarena_block_alloc(b, a[i].size, align, &a[i].handle, &off),
                 SYSARENA_OK);
        CHECK(off % align == 0 && off + a[i].size <= CAPACITY);
        for (size_t k = 0; k < a[i].size; k++)
            dev[off + k] = pattern(i, k);
        a[i].live = 1;
    }

    /* Bad calls get error codes and change nothing. */
    uint64_t h = 0;
    size_t off = 0;
    SysarenaStats s0, s;
    CHECK_RC(sysarena_block_stats(b, &s0), SYSARENA_OK);
    CHECK_RC(sysarena_block_alloc(NULL, 16, 16, &h, &off), SYSARENA_E_NULL);
    CHECK_RC(sysarena_block_alloc(b, 16, 3, &h, &off), SYSARENA_E_BAD_ALIGN);
    CHECK_RC(sysarena_block_alloc(b, 0, 16, &h, &off), SYSARENA_E_TOO_LARGE);
    CHECK_RC(sysarena_block_alloc(b, CAPACITY * 2, 16, &h, &off),
             SYSARENA_E_TOO_LARGE);
    CHECK_RC(sysarena_block_free(b, 0xdeadbeefcafeull), SYSARENA_E_STALE_HANDLE);
    CHECK_RC(sysarena_block_offset(b, 12345, &off), SYSARENA_E_STALE_HANDLE);
    CHECK_RC(sysarena_block_end_pass(b, NULL, 0, NULL), SYSARENA_E_NO_PASS);
    SysarenaArena arena;
    CHECK_RC(sysarena_block_arena_at(b, CAPACITY + 1, &arena),
             SYSARENA_E_BAD_ARGUMENT);
    CHECK_RC(sysarena_block_arena_at(b, 0, &arena), SYSARENA_OK);
    CHECK(arena.offset == 0 && arena.in_use == 1);
    void *fake = calloc(1, need); /* as large as a block, holding none */
    if (fake == NULL)
        return 1;
    CHECK_RC(sysarena_block_free((SysarenaBlock *)fake, a[0].handle),
             SYSARENA_E_BAD_BLOCK);
    free(fake);
    CHECK_RC(sysarena_block_stats(b, &s), SYSARENA_OK);
    CHECK(memcmp(&s, &s0, sizeof s) == 0);

    /* Fragment: free every other allocation. */
    for (int i = 0; i < BLOCKS; i += 2) {
        CHECK_RC(sysarena_block_free(b, a[i].handle), SYSARENA_OK);
        a[i].live = 0;
    }
    CHECK_RC(sysarena_block_free(b, a[0].handle), SYSARENA_E_STALE_HANDLE);
    CHECK_RC(sysarena_block_stats(b, &s), SYSARENA_OK);
    size_t largest_before = s.largest_free;
    printf("fragmented: %zu bytes free in %zu arenas, largest %zu\n",
           s.free_bytes, s.free_arenas, s.largest_free);
    CHECK(s.free_arenas > 10);

    /* Defragmentation passes: the caller moves the bytes. */
    SysarenaMove moves[MOVES];
    SysarenaPassPlan plan;
    SysarenaPassReport report;
    int passes = 0, moved = 0;
    for (;;) {
        CHECK_RC(sysarena_block_begin_pass(b, 0, 0, moves, MOVES, &plan),
                 SYSARENA_OK);
        CHECK_RC(sysarena_block_begin_pass(b, 0, 0, moves, MOVES, &plan),
                 SYSARENA_E_PASS_ACTIVE);
        if (plan.converged) {
            CHECK_RC(sysarena_block_end_pass(b, moves, 0, &report), SYSARENA_OK);
            break;
        }
        if (passes == 0 && plan.moves > 0) {
            /* A status that is not a SYSARENA_MOVE_* value is refused and
             * the pass stays open. */
            moves[0].status = 7;
            CHECK_RC(sysarena_block_end_pass(b, moves, plan.moves, &report),
                     SYSARENA_E_BAD_ARGUMENT);
            moves[0].status = SYSARENA_MOVE_PENDING;
        }
        for (size_t i = 0; i < plan.moves; i++) {
            /* While a move is planned its allocation cannot be freed. */
            if (i == 0)
                CHECK_RC(sysarena_block_free(b, moves[i].handle),
                         SYSARENA_E_PINNED);
            memmove(dev + moves[i].to, dev + moves[i].from, moves[i].len);
            moves[i].status = SYSARENA_MOVE_DONE;
        }
        CHECK_RC(sysarena_block_end_pass(b, moves, plan.moves, &report),
                 SYSARENA_OK);
        CHECK(report.done == plan.moves && report.rejected == 0);
        moved += (int)report.done;
        passes++;
        CHECK_RC(sysarena_block_check(b), SYSARENA_OK);
        verify(b, dev, a);
        if (passes > 200) {
            CHECK(!"the passes never converged");
            break;
        }
    }
    CHECK_RC(sysarena_block_stats(b, &s), SYSARENA_OK);
    printf("after %d passes (%d moves): %zu bytes free in %zu arenas, "
           "largest %zu\n",
           passes, moved, s.free_bytes, s.free_arenas, s.largest_free);
    CHECK(passes > 0 && moved > 0);
    CHECK(s.largest_free > largest_before);
    /* All free space but alignment gaps (under 64 bytes each) is one arena. */
    CHECK(s.largest_free + 64 * s.free_arenas >= s.free_bytes);

    /* The heap walk tiles the capacity. */
    SysarenaArena walk[256];
    size_t n = 0, total = 0, used = 0;
    CHECK_RC(sysarena_block_walk(b, walk, 256, &n), SYSARENA_OK);
    CHECK(n > 0 && n <= 256);
    for (size_t i = 0; i < n && i < 256; i++) {
        CHECK(i == 0 || walk[i].offset == walk[i - 1].offset + walk[i - 1].size);
        total += walk[i].size;
        used += (size_t)walk[i].in_use;
    }
    CHECK(total == CAPACITY);
    CHECK(used == s.used_arenas);
    CHECK_RC(sysarena_block_walk(b, NULL, 0, &n), SYSARENA_OK);

    /* Free everything: one free arena again. */
    for (int i = 0; i < BLOCKS; i++)
        if (a[i].live)
            CHECK_RC(sysarena_block_free(b, a[i].handle), SYSARENA_OK);
    CHECK_RC(sysarena_block_stats(b, &s), SYSARENA_OK);
    CHECK(s.free_bytes == CAPACITY && s.used_arenas == 0);
    /* Small freed arenas may wait in the quick lists (cached_bytes, counted
       as free); a pass flushes them, even one that moves nothing. */
    CHECK_RC(sysarena_block_begin_pass(b, 0, 0, moves, MOVES, &plan),
             SYSARENA_OK);
    CHECK(plan.moves == 0);
    CHECK_RC(sysarena_block_end_pass(b, moves, 0, &report), SYSARENA_OK);
    CHECK_RC(sysarena_block_stats(b, &s), SYSARENA_OK);
    CHECK(s.cached_bytes == 0 && s.free_arenas == 1);
    CHECK(s.free_bytes == CAPACITY && s.largest_free == CAPACITY);
    CHECK_RC(sysarena_block_check(b), SYSARENA_OK);

    free(dev);
    free(mem);
    if (failures == 0)
        printf("block: all checks passed\n");
    else
        printf("block: %d checks FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}
