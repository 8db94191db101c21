/* A block's bytes as a pattern of its tag, written and checked, for the
 * programs whose blocks outlive the thread or process that made them
 * (exits.c, main_exits.c). A block found changed ends the program with
 * status 3. */
#ifndef SYSARENA_PATTERN_H
#define SYSARENA_PATTERN_H

#include <stdio.h>
#include <stdlib.h>

static void fill(unsigned char *p, size_t n, unsigned tag) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(tag + i);
}

static void check(unsigned char *p, size_t n, unsigned tag) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(tag + i)) {
            fprintf(stderr, "corrupt block %p at %zu\n", (void *)p, i);
            exit(3);
        }
}

#endif
