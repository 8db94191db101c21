/* Under `ulimit -v`: the program splits the heap's first mapping, as RDMA
 * registration does (madvise(MADV_DONTFORK) on a page of one of its
 * blocks), so the mapping cannot grow in place any more; then it fills
 * FILL MiB with 100,000-byte blocks and THREADS new threads, one after
 * another, each run PAIRS malloc/free pairs (a new thread starts on the
 * first shard). Every block must be usable, and the program must end:
 * "split ok".
 *
 * usage: split [FILL_MIB [THREADS [PAIRS]]] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static long pairs = 50;

static void *worker(void *arg) {
    (void)arg;
    for (long i = 0; i < pairs; i++) {
        char *p = malloc(100000);
        if (!p) {
            fprintf(stderr, "split: malloc failed in the worker\n");
            exit(1);
        }
        p[0] = 1;
        p[99999] = 2;
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv) {
    size_t fill = (argc > 1 ? strtoul(argv[1], NULL, 10) : 40) << 20;
    long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
    if (argc > 3)
        pairs = strtol(argv[3], NULL, 10);
    char *block = malloc(3 * 4096);
    if (!block)
        return 1;
    char *page = (char *)(((uintptr_t)block + 4095) & ~(uintptr_t)4095);
    if (madvise(page, 4096, MADV_DONTFORK) != 0) {
        perror("split: madvise");
        return 1;
    }
    size_t got = 0;
    while (got < fill) {
        char *p = malloc(100000);
        if (!p) {
            fprintf(stderr, "split: malloc failed after %zu MiB\n", got >> 20);
            return 1;
        }
        memset(p, 1, 100000);
        got += 100000;
    }
    for (long i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
            return 1;
    }
    printf("split ok\n");
    return 0;
}
