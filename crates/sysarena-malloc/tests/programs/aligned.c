/* Small blocks at an alignment above 16 (posix_memalign), freed and
 * allocated again at random places among LIVE live blocks.
 *
 * usage: aligned ALIGN MAXSIZE N LIVE
 *        N calls of posix_memalign(ALIGN, 1 .. MAXSIZE), each after a free
 *        of the block it replaces; each block is checked for its alignment
 *        and its first bytes are written. Prints "aligned ok" (stdout) and
 *        the time of the loop (stderr); exits 1 on a failure or a
 *        misaligned block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: aligned ALIGN MAXSIZE N LIVE\n");
        return 2;
    }
    size_t align = strtoul(argv[1], 0, 10), max = strtoul(argv[2], 0, 10);
    size_t n = strtoul(argv[3], 0, 10), live = strtoul(argv[4], 0, 10);
    if (max == 0 || live == 0)
        return 2;
    void **b = calloc(live, sizeof *b);
    if (!b)
        return 1;
    unsigned long long x = 88172645463325252ULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = x % live, size = 1 + (x >> 20) % max;
        free(b[k]);
        void *p;
        if (posix_memalign(&p, align, size)) {
            fprintf(stderr, "posix_memalign(%zu, %zu) failed\n", align, size);
            return 1;
        }
        if ((size_t)p % align) {
            fprintf(stderr, "misaligned: %p at %zu\n", p, align);
            return 1;
        }
        memset(p, (int)i, size < 16 ? size : 16);
        b[k] = p;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (size_t k = 0; k < live; k++)
        free(b[k]);
    free(b);
    fprintf(stderr, "aligned: %.3f s\n",
            (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    printf("aligned ok\n");
    return 0;
}
