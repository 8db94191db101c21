/* Allocates until malloc fails, under an address-space limit (ulimit -v).
 *
 * usage: enomem fill     blocks of 16 B to 64 KiB (and one in 64 of 1 MiB),
 *                        each touched, until malloc returns null with ENOMEM;
 *                        then frees them all, checks that malloc works
 *                        again, and prints "enomem ok" (stdout) and the bytes
 *                        reached (stderr)
 *        enomem largest  the largest single malloc that succeeds (binary
 *                        search to 1 MiB), printed in MiB on stderr; stdout
 *                        "largest ok"
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    size_t cap = 1 << 16, n = 0, bytes = 0;
    void **blocks = malloc(cap * sizeof *blocks);
    uint64_t x = 88172645463325252ULL;
    for (;;) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t size = (x >> 58) == 0 ? (1 << 20) : 16 + x % 65536;
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
