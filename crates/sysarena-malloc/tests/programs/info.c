/* glibc's inspection and trimming calls: mallinfo2, mallinfo, malloc_trim,
 * malloc_stats, malloc_info. Every check holds under glibc as well as under
 * the library (the test runs it under both): the figures follow the
 * program's blocks, a checkerboard of freed 8 KiB blocks stays resident
 * until malloc_trim gives its pages back, and the reports have glibc's
 * shape. Prints "info ok". */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* mallinfo is deprecated (its int fields wrap), still called. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "info: line %d: %s does not hold\n", __LINE__, #c); \
            return 1;                                                         \
        }                                                                     \
    } while (0)

/* Resident bytes of the process, from /proc/self/statm. */
static long resident(void) {
    long size = 0, pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &pages) != 2) return -1;
    fclose(f);
    return pages * sysconf(_SC_PAGESIZE);
}

enum { N = 4000, SMALL = 1000, MID = 8192, BIG = 100 << 20 };
static char *small[N], *mid[N];

int main(void) {
    struct mallinfo2 a = mallinfo2();
    CHECK(a.arena == a.uordblks + a.fordblks);

    for (int i = 0; i < N; i++) {
        small[i] = malloc(SMALL);
        CHECK(small[i]);
        memset(small[i], 1, SMALL);
    }
    char *big = malloc(BIG); /* a mapping of its own under either */
    CHECK(big);
    memset(big, 1, 1 << 20);
    struct mallinfo2 b = mallinfo2();
    CHECK(b.uordblks >= a.uordblks + (size_t)N * SMALL);
    CHECK(b.arena == b.uordblks + b.fordblks);
    CHECK(b.hblks == a.hblks + 1 && b.hblkhd >= a.hblkhd + BIG);
    struct mallinfo c = mallinfo();
    CHECK(c.hblks == (int)b.hblks && c.uordblks == (int)b.uordblks);

    free(big);
    for (int i = 0; i < N; i++) free(small[i]);
    struct mallinfo2 d = mallinfo2();
    CHECK(d.uordblks + (size_t)N * SMALL * 9 / 10 <= b.uordblks);
    CHECK(d.hblks == a.hblks && d.hblkhd == a.hblkhd);

    /* Every other 8 KiB block freed: too small to go back to the kernel on
     * its own, each still spans a whole page. */
    for (int i = 0; i < N; i++) {
        mid[i] = malloc(MID);
        CHECK(mid[i]);
        memset(mid[i], 1, MID);
    }
    for (int i = 1; i < N; i += 2) free(mid[i]);
    long before = resident();
    CHECK(malloc_trim(0) == 1);
    long after = resident();
    fprintf(stderr, "info: resident %ld before malloc_trim, %ld after\n", before, after);
    CHECK(after <= before - (6 << 20));

    malloc_stats();
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    CHECK(f);
    CHECK(malloc_info(0, f) == 0);
    fclose(f);
    CHECK(strncmp(xml, "<malloc version=\"1\">\n", 21) == 0);
    CHECK(strstr(xml, "<total type=\"mmap\" count=\"0\" size=\"0\"/>"));
    CHECK(len > 9 && strcmp(xml + len - 10, "</malloc>\n") == 0);
    free(xml);
    /* Options other than 0: glibc answers EINVAL (the value, not errno). */
    CHECK(malloc_info(1, stdout) == EINVAL);

    for (int i = 0; i < N; i += 2) free(mid[i]);
    puts("info ok");
    return 0;
}
