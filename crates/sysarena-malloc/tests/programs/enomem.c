/* Allocates until malloc fails, under an address-space limit (ulimit -v).
 *
 * usage: enomem fill [SIZE]
 *                        blocks of 16 B to 64 KiB (and one in 64 of 1 MiB),
 *                        or all of SIZE bytes, each touched, until malloc
 *                        returns null with ENOMEM; then frees them all,
 *                        checks that malloc works again, and prints "enomem
 *                        ok" (stdout) and the bytes reached (stderr)
 *        enomem largest  the largest single malloc that succeeds (binary
 *                        search to 1 MiB), printed in MiB on stderr; stdout
 *                        "largest ok"
 *        enomem many N SIZE
 *                        N blocks of SIZE bytes live at once (every 1024th
 *                        and the last 1024 written at both ends, the rest
 *                        untouched: they cost no memory); then a small block
 *                        reallocated to 2 * SIZE keeps its bytes; all freed;
 *                        stdout "many ok". Run with SYSARENA_MMAP_THRESHOLD
 *                        at most SIZE and N past the table of direct
 *                        mappings: a full table must not refuse a request
 *                        the shards can hold.
 *        enomem mixed    66 MB of 100,000-byte blocks, 50 MB of 4,200-byte
 *                        ones (more descriptors per byte than any other
 *                        size), then 100 MB of 100-byte ones (slab pages),
 *                        each written; all checked and freed; stdout
 *                        "mixed ok". Under a limit, a shard's descriptor
 *                        table grows and then its slot-state blocks must
 *                        still grow.
 *        enomem refill MIB MAP [SIZE]
 *                        MIB MiB in blocks of 16 B to 64 KiB (or all of SIZE
 *                        bytes), each touched, then all freed; then the
 *                        program's own mmap of MAP MiB must succeed (run
 *                        under a limit that leaves no room for both: the
 *                        freed heap must give its address space back), is
 *                        written and unmapped; then MIB MiB again and all
 *                        freed; stdout "refill ok"
 */
#define _GNU_SOURCE /* mremap */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Allocates `mib` MiB in blocks of `fixed` bytes (0: 16 B to 64 KiB),
 * touching each, then frees them all; 0 on success. */
static int fill_and_free(size_t mib, size_t fixed) {
    size_t cap = 1 << 16, n = 0, bytes = 0;
    void **blocks = mmap(NULL, cap * sizeof *blocks, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t x = 88172645463325252ULL;
    if (blocks == MAP_FAILED)
        return 1;
    while (bytes < mib << 20) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t size = fixed ? fixed : 16 + x % 65536;
        if (n == cap) {
            void **more = mremap(blocks, cap * sizeof *blocks, 2 * cap * sizeof *blocks,
                                 MREMAP_MAYMOVE);
            if (more == MAP_FAILED)
                return 1;
            blocks = more, cap *= 2;
        }
        void *p = malloc(size);
        if (!p) {
            fprintf(stderr, "refill: malloc failed at %zu MiB\n", bytes >> 20);
            return 1;
        }
        memset(p, 1, size);
        blocks[n++] = p;
        bytes += size;
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    munmap(blocks, cap * sizeof *blocks);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "largest") == 0) {
        size_t lo = 0, hi = (size_t)1 << 40;
        while (hi - lo > (1 << 20)) {
            size_t mid = lo + (hi - lo) / 2;
            void *p = malloc(mid);
            if (p) {
                lo = mid;
                free(p);
            } else {
                hi = mid;
            }
        }
        fprintf(stderr, "largest malloc: %zu MiB\n", lo >> 20);
        printf("largest ok\n");
        return 0;
    }
    if (argc > 3 && strcmp(argv[1], "many") == 0) {
        size_t n = strtoul(argv[2], NULL, 10), size = strtoul(argv[3], NULL, 10);
        char **b = malloc(n * sizeof *b);
        if (!b || size < 2)
            return 1;
        for (size_t i = 0; i < n; i++) {
            b[i] = malloc(size);
            if (!b[i]) {
                fprintf(stderr, "many: malloc %zu of %zu failed\n", i, n);
                return 1;
            }
            if (i % 1024 == 0 || i + 1024 >= n)
                b[i][0] = (char)i, b[i][size - 1] = (char)(i >> 8);
        }
        char *small = malloc(100);
        if (!small)
            return 1;
        memset(small, 7, 100);
        char *grown = realloc(small, 2 * size);
        if (!grown || grown[0] != 7 || grown[99] != 7) {
            fprintf(stderr, "many: realloc to %zu failed\n", 2 * size);
            return 1;
        }
        free(grown);
        for (size_t i = 0; i < n; i++) {
            if ((i % 1024 == 0 || i + 1024 >= n) &&
                (b[i][0] != (char)i || b[i][size - 1] != (char)(i >> 8))) {
                fprintf(stderr, "many: block %zu changed\n", i);
                return 1;
            }
            free(b[i]);
        }
        free(b);
        printf("many ok\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "mixed") == 0) {
        static const size_t sizes[3] = {100000, 4200, 100}, counts[3] = {660, 12000, 1000000};
        size_t total = counts[0] + counts[1] + counts[2], n = 0;
        unsigned char **b = malloc(total * sizeof *b);
        if (!b)
            return 1;
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < counts[k]; i++, n++) {
                b[n] = malloc(sizes[k]);
                if (!b[n]) {
                    fprintf(stderr, "mixed: malloc(%zu) %zu failed\n", sizes[k], i);
                    return 1;
                }
                memset(b[n], (int)(n & 0xff), sizes[k]);
            }
        n = 0;
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < counts[k]; i++, n++) {
                if (b[n][0] != (unsigned char)(n & 0xff) ||
                    b[n][sizes[k] - 1] != (unsigned char)(n & 0xff)) {
                    fprintf(stderr, "mixed: block %zu changed\n", n);
                    return 1;
                }
                free(b[n]);
            }
        free(b);
        printf("mixed ok\n");
        return 0;
    }
    if (argc > 3 && strcmp(argv[1], "refill") == 0) {
        size_t mib = strtoul(argv[2], NULL, 10), map = strtoul(argv[3], NULL, 10) << 20;
        size_t fixed = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
        if (fill_and_free(mib, fixed))
            return 1;
        char *m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            fprintf(stderr, "refill: mmap of %zu MiB after the frees failed\n", map >> 20);
            return 1;
        }
        for (size_t i = 0; i < map; i += 4096)
            m[i] = 1;
        munmap(m, map);
        if (fill_and_free(mib, fixed))
            return 1;
        printf("refill ok\n");
        return 0;
    }
    size_t fixed = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
    size_t cap = 1 << 16, n = 0, bytes = 0;
    void **blocks = malloc(cap * sizeof *blocks);
    uint64_t x = 88172645463325252ULL;
    for (;;) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t size = fixed ? fixed : (x >> 58) == 0 ? (1 << 20) : 16 + x % 65536;
        if (n == cap) {
            void **more = realloc(blocks, 2 * cap * sizeof *blocks);
            if (!more)
                break;
            blocks = more, cap *= 2;
        }
        errno = 0;
        void *p = malloc(size);
        if (!p) {
            if (errno != ENOMEM) {
                fprintf(stderr, "malloc failed without ENOMEM\n");
                return 1;
            }
            break;
        }
        memset(p, 1, size);
        blocks[n++] = p;
        bytes += size;
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
    void *again = malloc(1000);
    if (!again)
        return 2;
    free(again);
    fprintf(stderr, "enomem: %zu blocks, %zu MiB before ENOMEM\n", n, bytes >> 20);
    printf("enomem ok\n");
    return 0;
}
