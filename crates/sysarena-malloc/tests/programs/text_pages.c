/* Preloaded after the library (LD_PRELOAD="lib.so text_pages.so"): at exit,
 * writes to $TEXT_PAGES_TO one line per executable mapping of the file whose
 * path contains $TEXT_PAGES_OF: its start and end address, then '#' for each
 * page mapped into the process (/proc/self/pagemap's "present" bit) and '.'
 * for each page that is not. hot_ld.py --check reads it: the library's code
 * that no program runs must stay out of memory. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((destructor(101))) static void text_pages(void) {
    const char *to = getenv("TEXT_PAGES_TO"), *of = getenv("TEXT_PAGES_OF");
    if (!to || !of) return;
    FILE *maps = fopen("/proc/self/maps", "r");
    FILE *out = fopen(to, "w");
    int pagemap = open("/proc/self/pagemap", O_RDONLY);
    if (!maps || !out || pagemap < 0) return;
    long page = sysconf(_SC_PAGESIZE);
    char line[4096];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char perms[8];
        if (!strstr(line, of) || sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
            perms[2] != 'x')
            continue;
        fprintf(out, "%lx %lx ", start, end);
        for (unsigned long p = start; p < end; p += page) {
            uint64_t entry = 0;
            if (pread(pagemap, &entry, sizeof entry, (off_t)(p / page * sizeof entry)) !=
                sizeof entry)
                entry = 0;
            fputc(entry >> 63 ? '#' : '.', out);
        }
        fputc('\n', out);
    }
    fclose(maps);
    fclose(out);
    close(pagemap);
}
