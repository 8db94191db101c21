/* A traced process forks; the child allocates, frees and ends with _exit,
 * which runs no exit handler. The child's trace must still hold its calls.
 *
 * usage: fork_trace  (prints the child's pid, then "fork_trace ok")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    /* volatile: the compiler may not drop a malloc/free pair. */
    char *volatile warm = malloc(100); /* the parent traces too */
    if (!warm)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        char *volatile p = malloc(22);
        if (!p)
            _exit(1);
        memset(p, 1, 22);
        free(p);
        _exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    free(warm);
    printf("%d\nfork_trace ok\n", (int)pid);
    return 0;
}
