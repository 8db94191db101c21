/* A program that registers its fork handlers before its first malloc and
 * allocates in every one of them: pthread_atfork runs the prepare handlers
 * in reverse order of registration and the others in order, so the
 * allocator's own (which lock the heap) must have been registered first.
 * Registered lazily at the first malloc, they ran inside the program's and
 * the child (or the parent) deadlocked. alarm() turns a hang into a failure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void use_heap(void) {
    void *volatile a = malloc(5000);
    void *volatile b = malloc(24);
    free(a);
    free(b);
}

int main(void) {
    alarm(20);
    if (pthread_atfork(use_heap, use_heap, use_heap) != 0) {
        return 1;
    }
    use_heap();
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            return 1;
        }
        if (pid == 0) {
            use_heap();
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("child %d failed: status %d\n", i, status);
            return 1;
        }
    }
    puts("atfork ok");
    return 0;
}
