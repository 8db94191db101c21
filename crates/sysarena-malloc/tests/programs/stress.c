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
 * With mix=1 (issue 8's concurrency stress) blocks come from every
 * allocation function — malloc, calloc (checked zero), posix_memalign,
 * aligned_alloc, memalign, valloc, realloc(NULL) (each checked aligned) —
 * malloc_usable_size is checked, every byte of a block carries its own
 * pattern and is verified, one round in four reallocs the slot's block
 * (the kept prefix verified, the new tail filled), and one block in four is
 * reallocated once more just before it is freed, by whichever thread frees
 * it (so reallocs cross threads too). Which blocks are reallocated and to
 * what size depends only on the seeds: the totals are the same under any
 * allocator and any schedule.
 *
 * With seconds > 0 every thread stops after that long (or its rounds), and
 * only scheduling-independent words go to stdout ("stress ok threads=N
 * mix=M freed=all"); the counts go to stderr.
 *
 * usage: stress [threads=4] [rounds=400000] [slots=2000] [mix=0] [seconds=0]
 * Prints "stress ok ..." on stdout; the throughput goes to stderr. Exits 3
 * on a corrupt block, 2 on a failed allocation, 4 on a misaligned or short
 * block or a calloc block that is not zero.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
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
    uint64_t allocs, bytes, checked, reallocs;
    struct mailbox box;
    struct worker *next;
};

static long rounds = 400000, slots = 2000;
static int mix = 0;
static double seconds = 0;
static atomic_int stop;
static struct timespec started;

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

/* Mixed mode: a block holds its size in bytes 0..8, a tag in 8..16, and
 * the tag's pattern in every byte after. */
static unsigned char pat(uint64_t tag, size_t i) {
    return (unsigned char)((tag >> ((i & 7) * 8)) + i + (i >> 9));
}

static void die(int code, const char *what, void *p, size_t size, size_t at) {
    fprintf(stderr, "%s: block %p of %zu bytes, at %zu\n", what, p, size, at);
    exit(code);
}

static void fill(unsigned char *p, uint64_t tag, size_t from, size_t to) {
    for (size_t i = from < 16 ? 16 : from; i < to; i++)
        p[i] = pat(tag, i);
}

static void verify(unsigned char *p, uint64_t tag, size_t len, size_t size) {
    for (size_t i = 16; i < len; i++)
        if (p[i] != pat(tag, i))
            die(3, "corrupt", p, size, i);
}

static void header(unsigned char *p, size_t size, uint64_t tag) {
    memcpy(p, &size, sizeof size);
    memcpy(p + 8, &tag, sizeof tag);
}

static void read_header(unsigned char *p, size_t *size, uint64_t *tag) {
    memcpy(size, p, sizeof *size);
    memcpy(tag, p + 8, sizeof *tag);
    if (*size < 16 || *size > (1 << 20))
        die(3, "corrupt header", p, *size, 0);
}

static void usable(unsigned char *p, size_t size) {
    if (malloc_usable_size(p) < size)
        die(4, "malloc_usable_size too small", p, size, malloc_usable_size(p));
}

/* Reallocates `p` to `new_size`; the kept prefix must survive. */
static unsigned char *grow(struct worker *w, unsigned char *p, size_t new_size) {
    size_t size;
    uint64_t tag;
    read_header(p, &size, &tag);
    verify(p, tag, size, size);
    unsigned char *q = realloc(p, new_size);
    if (!q) {
        fprintf(stderr, "realloc(%zu) failed\n", new_size);
        exit(2);
    }
    if ((uintptr_t)q % 16)
        die(4, "realloc misaligned", q, new_size, 0);
    usable(q, new_size);
    size_t kept = size < new_size ? size : new_size;
    verify(q, tag, kept, new_size);
    header(q, new_size, tag);
    fill(q, tag, kept, new_size);
    w->checked += size;
    w->bytes += new_size;
    w->reallocs++;
    return q;
}

static unsigned char *make_mix(struct worker *w) {
    uint64_t r = rnd(&w->seed);
    size_t size = 16 + r % ((r >> 40) % 8 == 0 ? 16384 : 512);
    size_t align = (size_t)16 << ((r >> 50) % 8); /* 16 .. 2048 */
    unsigned char *p = NULL;
    int zero = 0;
    switch ((r >> 20) % 20) {
    case 10: case 11: case 12:
        p = calloc(size / 16, 16); /* n x 16 bytes */
        size = size / 16 * 16;
        zero = 1;
        break;
    case 13: case 14: {
        void *v = NULL;
        if (posix_memalign(&v, align, size) != 0)
            v = NULL;
        p = v;
        break;
    }
    case 15: case 16:
        size = (size + align - 1) / align * align; /* C11: a multiple */
        p = aligned_alloc(align, size);
        break;
    case 17:
        p = memalign(align, size);
        break;
    case 18:
        align = 4096;
        p = valloc(size);
        break;
    case 19:
        p = realloc(NULL, size);
        align = 16;
        break;
    default:
        p = malloc(size);
        align = 16;
        break;
    }
    if (!p) {
        fprintf(stderr, "allocation of %zu bytes (align %zu) failed\n", size, align);
        exit(2);
    }
    if (zero) {
        for (size_t i = 0; i < size; i++)
            if (p[i])
                die(4, "calloc block not zero", p, size, i);
        align = 16;
    }
    if ((uintptr_t)p % align)
        die(4, "misaligned", p, size, align);
    usable(p, size);
    uint64_t tag = rnd(&w->seed);
    header(p, size, tag);
    fill(p, tag, 16, size);
    w->allocs++;
    w->bytes += size;
    return p;
}

/* Verifies and frees a block; one in four (by its tag, so whoever frees
 * it) is first reallocated to a size its tag names. */
static uint64_t check_mix(struct worker *w, unsigned char *p) {
    size_t size;
    uint64_t tag;
    read_header(p, &size, &tag);
    if ((tag >> 33) % 4 == 0) {
        p = grow(w, p, 16 + (tag >> 40) % ((tag >> 36) % 8 == 0 ? 20000 : 600));
        read_header(p, &size, &tag);
    }
    verify(p, tag, size, size);
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
        w->checked += mix ? check_mix(w, local[i]) : check(local[i]);
}

static double elapsed(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
}

static uint64_t release(struct worker *w, unsigned char *p) {
    return mix ? check_mix(w, p) : check(p);
}

static void *run(void *arg) {
    struct worker *w = arg;
    unsigned char **slot = calloc(slots, sizeof *slot);
    for (long r = 0; r < rounds; r++) {
        long i = rnd(&w->seed) % slots;
        if (mix && slot[i] && rnd(&w->seed) % 4 == 0) {
            /* Resize the block in place of a free and a malloc. */
            uint64_t x = rnd(&w->seed);
            slot[i] = grow(w, slot[i], 16 + x % ((x >> 40) % 8 == 0 ? 16384 : 512));
            goto next;
        }
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
                    w->checked += release(w, slot[i]);
            } else {
                w->checked += release(w, slot[i]);
            }
        }
        slot[i] = mix ? make_mix(w) : make(w);
    next:
        if (r % 256 == 0) {
            drain(w);
            if (seconds > 0 && (atomic_load(&stop) || elapsed() >= seconds)) {
                atomic_store(&stop, 1);
                break;
            }
        }
    }
    for (long i = 0; i < slots; i++)
        if (slot[i])
            w->checked += release(w, slot[i]);
    free(slot);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    if (argc > 2)
        rounds = atol(argv[2]);
    if (argc > 3)
        slots = atol(argv[3]);
    if (argc > 4)
        mix = atoi(argv[4]);
    if (argc > 5)
        seconds = atof(argv[5]);
    struct worker *w = calloc(threads, sizeof *w);
    for (int t = 0; t < threads; t++) {
        w[t].id = t;
        w[t].seed = 0x9E3779B97F4A7C15ull * (t + 1);
        w[t].next = &w[(t + 1) % threads];
        pthread_mutex_init(&w[t].box.lock, NULL);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    started = a;
    for (int t = 0; t < threads; t++)
        pthread_create(&w[t].thread, NULL, run, &w[t]);
    for (int t = 0; t < threads; t++)
        pthread_join(w[t].thread, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t allocs = 0, bytes = 0, checked = 0, reallocs = 0;
    for (int t = 0; t < threads; t++)
        drain(&w[t]);
    for (int t = 0; t < threads; t++) {
        allocs += w[t].allocs;
        bytes += w[t].bytes;
        checked += w[t].checked;
        reallocs += w[t].reallocs;
    }
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    const char *freed = checked == bytes ? "all" : "MISSING";
    if (seconds > 0)
        printf("stress ok threads=%d mix=%d freed=%s\n", threads, mix, freed);
    else if (mix)
        printf("stress ok threads=%d mix=%d allocs=%llu reallocs=%llu bytes=%llu freed=%s\n",
               threads, mix, (unsigned long long)allocs, (unsigned long long)reallocs,
               (unsigned long long)bytes, freed);
    else
        printf("stress ok threads=%d allocs=%llu bytes=%llu freed=%s\n", threads,
               (unsigned long long)allocs, (unsigned long long)bytes, freed);
    if (seconds > 0 || mix)
        fprintf(stderr, "stress: %llu allocs, %llu reallocs, %llu bytes\n",
                (unsigned long long)allocs, (unsigned long long)reallocs,
                (unsigned long long)bytes);
    fprintf(stderr, "stress: %.0f malloc+free pairs/s (%.3f s)\n", allocs / s, s);
    free(w);
    return checked == bytes ? 0 : 1;
}
