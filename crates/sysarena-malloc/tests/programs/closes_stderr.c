/* A program that closes its stderr before it exits, as coreutils'
 * close_stdout does (ls, sort, cat).
 *
 *   closes_stderr            allocates, closes descriptor 2, exits
 *   closes_stderr FILE       the same, after opening FILE onto descriptors
 *                            100 to 131 with dup2 (where the library keeps
 *                            its copy of stderr under SYSARENA_CHECK): the
 *                            library must write nothing into FILE
 *
 * Prints "closes_stderr ok" on stdout. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char *blocks[64];
    for (int i = 0; i < 64; i++) {
        blocks[i] = malloc(16 + 40 * i);
        if (!blocks[i]) return 1;
        memset(blocks[i], i, 16 + 40 * i);
    }
    for (int i = 0; i < 64; i += 2) free(blocks[i]);
    if (argc > 1) {
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) return 2;
        for (int t = 100; t < 132; t++)
            if (dup2(fd, t) != t) return 3;
        close(fd);
    }
    printf("closes_stderr ok\n");
    fflush(stdout);
    close(2);
    return 0;
}
