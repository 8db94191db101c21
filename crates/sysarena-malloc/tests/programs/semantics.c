/* C and glibc semantics of the allocation functions, checked the same way
 * under glibc and under sysarena-malloc (LD_PRELOAD). Exits non-zero with a
 * message at the first failure; prints "semantics ok" at the end.
 *
 * With SYSARENA_EXPECT=1 it also frees pointers the allocator did not hand
 * out, which sysarena reports and ignores (glibc would abort).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                          \
    do {                                                                  \
        if (!(c)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

static volatile size_t huge = SIZE_MAX; /* defeats compile-time folding */

static void basics(void) {
    void *z = malloc(0);
    CHECK(z != NULL);
    free(z);
    free(NULL);
    for (size_t n = 1; n < 5000; n += 7) {
        unsigned char *p = malloc(n);
        CHECK(p && (uintptr_t)p % 16 == 0);
        CHECK(malloc_usable_size(p) >= n);
        memset(p, 0x5a, n);
        free(p);
    }
    CHECK(malloc_usable_size(NULL) == 0);
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(huge - 4096) == NULL && errno == ENOMEM);
}

static void calloc_checks(void) {
    errno = 0;
    CHECK(calloc(huge / 2, 3) == NULL && errno == ENOMEM);
    for (int round = 0; round < 100; round++) {
        size_t n = 16 + round * 97;
        unsigned char *p = malloc(n);
        memset(p, 0xff, n);
        free(p);
        unsigned char *q = calloc(1, n);
        CHECK(q);
        for (size_t i = 0; i < n; i++)
            CHECK(q[i] == 0);
        free(q);
    }
}

static void realloc_checks(void) {
    unsigned char *p = realloc(NULL, 10);
    CHECK(p);
    for (int i = 0; i < 10; i++)
        p[i] = i;
    size_t sizes[] = {100, 5000, 3, 200000, 70 << 20, 50, 80 << 20, 1};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        p = realloc(p, sizes[k]);
        CHECK(p);
        for (size_t i = 0; i < 10 && i < sizes[k] && i < 3; i++)
            CHECK(p[i] == i);
        if (sizes[k] >= 10)
            p[sizes[k] - 1] = 1;
    }
    CHECK(realloc(p, 0) == NULL); /* glibc: frees, returns NULL */
    unsigned char *q = malloc(32);
    memset(q, 7, 32);
    errno = 0;
    CHECK(reallocarray(q, huge / 2, 4) == NULL && errno == ENOMEM);
    CHECK(q[31] == 7);
    q = reallocarray(q, 8, 8);
    CHECK(q && q[31] == 7);
    errno = 0;
    CHECK(realloc(q, huge) == NULL && errno == ENOMEM);
    CHECK(q[0] == 7);
    free(q);
}

static void aligned_checks(void) {
    for (size_t a = 8; a <= (1 << 20); a *= 2) {
        void *p = NULL;
        CHECK(posix_memalign(&p, a, 100) == 0 && (uintptr_t)p % a == 0);
        free(p);
        p = aligned_alloc(a, 3 * a);
        CHECK(p && (uintptr_t)p % a == 0);
        free(p);
        p = memalign(a, 1);
        CHECK(p && (uintptr_t)p % a == 0);
        free(p);
    }
    void *p = (void *)1;
    CHECK(posix_memalign(&p, 24, 8) == EINVAL && p == (void *)1);
    CHECK(posix_memalign(&p, 4, 8) == EINVAL);
    CHECK(posix_memalign(&p, 64, huge) == ENOMEM);
    long page = sysconf(_SC_PAGESIZE);
    p = valloc(10);
    CHECK(p && (uintptr_t)p % page == 0);
    free(p);
    p = pvalloc(10);
    CHECK(p && (uintptr_t)p % page == 0 && malloc_usable_size(p) >= (size_t)page);
    free(p);
    /* A large aligned block gets its own mapping. */
    p = memalign(1 << 21, 100 << 20);
    CHECK(p && (uintptr_t)p % (1 << 21) == 0);
    memset(p, 1, 100 << 20);
    free(p);
}

static void *churn(void *arg) {
    long seed = (long)arg;
    void *keep[64] = {0};
    for (int i = 0; i < 200000; i++) {
        seed = seed * 6364136223846793005L + 1;
        int k = (seed >> 33) & 63;
        free(keep[k]);
        keep[k] = malloc(((seed >> 40) & 1023) + 1);
        CHECK(keep[k]);
        memset(keep[k], k, 1);
    }
    for (int k = 0; k < 64; k++)
        free(keep[k]);
    return NULL;
}

/* fork while other threads allocate: the child must find every lock free. */
static void fork_checks(void) {
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            for (int j = 0; j < 1000; j++)
                free(malloc(j + 1));
            char *s = strdup("child");
            _exit(s && strcmp(s, "child") == 0 ? 0 : 1);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
static void foreign_frees(void) {
    long local[4] = {0};
    free(local);                 /* not ours: reported, ignored */
    char *p = malloc(64);
    free(p + 16);                /* not a block start: reported, ignored */
    strcpy(p, "intact");
    CHECK(strcmp(p, "intact") == 0);
    free(p);
    CHECK(malloc_usable_size(local) == 0);
}

/* glibc's internal names: the same functions as the public ones (a block
 * from one is freed by the other; under glibc they are glibc's own). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static void libc_names(void) {
    char *p = __libc_malloc(100);
    CHECK(p);
    strcpy(p, "internal");
    p = __libc_realloc(p, 5000);
    CHECK(p && strcmp(p, "internal") == 0);
    free(p);
    p = malloc(100);
    CHECK(p);
    __libc_free(p);
    unsigned char *z = __libc_calloc(10, 10);
    CHECK(z && z[0] == 0 && z[99] == 0);
    free(z);
    p = __libc_memalign(256, 10);
    CHECK(p && (uintptr_t)p % 256 == 0);
    __libc_free(p);
}

int main(void) {
    basics();
    libc_names();
    calloc_checks();
    realloc_checks();
    aligned_checks();
    fork_checks();
    const char *e = getenv("SYSARENA_EXPECT");
    if (e && strcmp(e, "1") == 0)
        foreign_frees();
    puts("semantics ok");
    return 0;
}
