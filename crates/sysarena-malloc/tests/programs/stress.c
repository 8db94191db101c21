/* A larson-like multi-threaded malloc stress test.
 *
 * Each thread owns an array of slots and runs ROUNDS rounds: pick a slot,
 * verify and free the block in it, allocate a new block of a random size
 * and write a pattern into its first 64 and last 8 bytes (so that the
 * allocator, not memset, dominates the time). One block in eight is passed to the next
 * thread instead, which verifies and frees it (a cross-thread free). At the
 * end every block is freed. The output depends only on the seeds, never on
 * scheduling, so runs under different allocators must print the same line.
 *
 * usage: stress [threads=4] [rounds=400000] [slots=2000]
 * Prints "stress ok ..." on stdout; the throughput goes to stderr.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAILBOX 4096

struct mailbox {
    pthread_mutex_t lock;
    unsigned char *blocks[MAILBOX];
    int len;
};

struct worker {
    int id;
    pthread_t thread;
    uint64_t seed;
    uint64_t allocs, bytes, checked;
    struct mailbox box;
    struct worker *next;
};

static long rounds = 400000, slots = 2000;

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A block holds its size in its first 8 bytes and a pattern after. */
static unsigned char *make(struct worker *w) {
    uint64_t r = rnd(&w->seed);
    size_t size = 16 + r % ((r >> 40) % 8 == 0 ? 16384 : 512);
    unsigned char *p = malloc(size);
    if (!p) {
        fprintf(stderr, "malloc(%zu) failed\n", size);
        exit(2);
    }
    memcpy(p, &size, sizeof size);
    for (size_t i = sizeof size; i < size; i++) {
        if (i == 64 && size > 72)
            i = size - 8;
        p[i] = (unsigned char)(size + i);
    }
    w->allocs++;
    w->bytes += size;
    return p;
}

static uint64_t check(unsigned char *p) {
    size_t size;
    memcpy(&size, p, sizeof size);
    for (size_t i = sizeof size; i < size; i++) {
        if (i == 64 && size > 72)
            i = size - 8;
        if (p[i] != (unsigned char)(size + i)) {
            fprintf(stderr, "corrupt block %p at %zu of %zu\n", (void *)p, i, size);
            exit(3);
        }
    }
    free(p);
    return size;
}

static void drain(struct worker *w) {
    unsigned char *local[MAILBOX];
    pthread_mutex_lock(&w->box.lock);
    int n = w->box.len;
    memcpy(local, w->box.blocks, n * sizeof local[0]);
    w->box.len = 0;
    pthread_mutex_unlock(&w->box.lock);
    for (int i = 0; i < n; i++)
        w->checked += check(local[i]);
}

static void *run(void *arg) {
    struct worker *w = arg;
    unsigned char **slot = calloc(slots, sizeof *slot);
    for (long r = 0; r < rounds; r++) {
        long i = rnd(&w->seed) % slots;
        if (slot[i]) {
            if (rnd(&w->seed) % 8 == 0) {
                /* Pass it on; if the receiver's box is full (it may have
                 * finished), free it here: the totals are the same. */
                struct mailbox *b = &w->next->box;
                int passed = 0;
                pthread_mutex_lock(&b->lock);
                if (b->len < MAILBOX) {
                    b->blocks[b->len++] = slot[i];
                    passed = 1;
                }
                pthread_mutex_unlock(&b->lock);
                if (!passed)
                    w->checked += check(slot[i]);
            } else {
                w->checked += check(slot[i]);
            }
        }
        slot[i] = make(w);
        if (r % 256 == 0)
            drain(w);
    }
    for (long i = 0; i < slots; i++)
        if (slot[i])
            w->checked += check(slot[i]);
    free(slot);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    if (argc > 2)
        rounds = atol(argv[2]);
    if (argc > 3)
        slots = atol(argv[3]);
    struct worker *w = calloc(threads, sizeof *w);
    for (int t = 0; t < threads; t++) {
        w[t].id = t;
        w[t].seed = 0x9E3779B97F4A7C15ull * (t + 1);
        w[t].next = &w[(t + 1) % threads];
        pthread_mutex_init(&w[t].box.lock, NULL);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int t = 0; t < threads; t++)
        pthread_create(&w[t].thread, NULL, run, &w[t]);
    for (int t = 0; t < threads; t++)
        pthread_join(w[t].thread, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t allocs = 0, bytes = 0, checked = 0;
    for (int t = 0; t < threads; t++)
        drain(&w[t]);
    for (int t = 0; t < threads; t++) {
        allocs += w[t].allocs;
        bytes += w[t].bytes;
        checked += w[t].checked;
    }
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("stress ok threads=%d allocs=%llu bytes=%llu freed=%s\n", threads,
           (unsigned long long)allocs, (unsigned long long)bytes,
           checked == bytes ? "all" : "MISSING");
    fprintf(stderr, "stress: %.0f malloc+free pairs/s (%.3f s)\n", allocs / s, s);
    free(w);
    return checked == bytes ? 0 : 1;
}
