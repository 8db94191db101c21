/* A larson-style throughput test: THREADS threads each keep SLOTS live
 * blocks and, OPS times, replace a random one with a new block of a random
 * size in [9, MAX] (its size written in its first 8 bytes, a byte at its
 * end, both checked before it is freed); one
 * replaced block in eight is not freed by its thread but passed to the
 * next thread, which frees it (a remote free). Passed blocks travel in
 * batches of 64 through a mutex-guarded mailbox, so the test's own locking
 * costs little. A worker drains its mailbox every 1024 replacements, and
 * keeps draining after its last one until every worker is done, so the
 * blocks in transit stay few whatever the scheduling (before, a worker
 * that finished first left everything passed to it since in its mailbox,
 * and the peak RSS varied 2-5 x from run to run).
 *
 * usage: larson [threads=4] [max=512] [ops=2000000 per thread] [slots=1000]
 * Prints "larson ok threads=T max=M" on stdout (the same under any
 * allocator) and "larson: N ops/s" on stderr. Exits 2 on a failed
 * allocation, 3 on a corrupt block.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 64

struct box {
    pthread_mutex_t lock;
    unsigned char **items;
    long len, cap;
};

static int threads = 4;
static long maxsize = 512, ops = 2000000, slots = 1000;
static struct box *boxes;
static int finished;

static uint64_t next(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static unsigned char *make(uint64_t *x) {
    size_t n = 9 + next(x) % (maxsize - 8);
    unsigned char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "malloc(%zu) failed\n", n);
        exit(2);
    }
    memcpy(p, &n, sizeof n);
    p[n - 1] = (unsigned char)(n * 7 + 1);
    return p;
}

/* Checks the size at the start and the byte at the end, then frees. */
static void drop(unsigned char *p) {
    size_t n;
    memcpy(&n, p, sizeof n);
    if (n < 9 || n > (size_t)maxsize || p[n - 1] != (unsigned char)(n * 7 + 1)) {
        fprintf(stderr, "corrupt block %p\n", (void *)p);
        exit(3);
    }
    free(p);
}

static void drain(int t) {
    struct box *b = &boxes[t];
    pthread_mutex_lock(&b->lock);
    long len = b->len;
    unsigned char **items = b->items;
    b->items = malloc(b->cap * sizeof *items);
    b->len = 0;
    pthread_mutex_unlock(&b->lock);
    if (!b->items)
        exit(2);
    for (long i = 0; i < len; i++)
        drop(items[i]);
    free(items);
}

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(t + 1);
    unsigned char **live = malloc(slots * sizeof *live);
    unsigned char *out[BATCH];
    int nout = 0;
    for (long i = 0; i < slots; i++)
        live[i] = make(&x);
    for (long k = 0; k < ops; k++) {
        long i = (long)(next(&x) % slots);
        unsigned char *old = live[i];
        if (threads > 1 && next(&x) % 8 == 0) {
            out[nout++] = old;
            if (nout == BATCH) {
                struct box *b = &boxes[(t + 1) % threads];
                pthread_mutex_lock(&b->lock);
                if (b->len + BATCH > b->cap) {
                    b->cap = 2 * (b->len + BATCH);
                    b->items = realloc(b->items, b->cap * sizeof *b->items);
                    if (!b->items)
                        exit(2);
                }
                memcpy(b->items + b->len, out, sizeof out);
                b->len += BATCH;
                pthread_mutex_unlock(&b->lock);
                nout = 0;
            }
        } else {
            drop(old);
        }
        live[i] = make(&x);
        if (k % 1024 == 0)
            drain(t);
    }
    /* Keep draining until every worker is done: a worker that finished
     * early would otherwise leave every block passed to it since in its
     * box, and the peak RSS would measure the scheduling, not the
     * allocator. */
    __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&finished, __ATOMIC_SEQ_CST) < threads) {
        drain(t);
        sched_yield();
    }
    drain(t);
    for (int i = 0; i < nout; i++)
        drop(out[i]);
    for (long i = 0; i < slots; i++)
        drop(live[i]);
    free(live);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        threads = atoi(argv[1]);
    if (argc > 2)
        maxsize = atol(argv[2]);
    if (argc > 3)
        ops = atol(argv[3]);
    if (argc > 4)
        slots = atol(argv[4]);
    if (threads < 1 || maxsize < 9 || ops < 1 || slots < 1)
        return 1;
    boxes = calloc(threads, sizeof *boxes);
    for (int t = 0; t < threads; t++) {
        pthread_mutex_init(&boxes[t].lock, NULL);
        boxes[t].cap = 1024;
        boxes[t].items = malloc(boxes[t].cap * sizeof *boxes[t].items);
    }
    pthread_t *th = malloc(threads * sizeof *th);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int t = 0; t < threads; t++)
        pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    for (int t = 0; t < threads; t++) {
        for (long i = 0; i < boxes[t].len; i++)
            drop(boxes[t].items[i]);
        free(boxes[t].items);
    }
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("larson ok threads=%d max=%ld\n", threads, maxsize);
    fprintf(stderr, "larson: %.0f ops/s\n", (double)threads * (double)ops / s);
    free(th);
    free(boxes);
    return 0;
}
