/* The main thread leaves first: it allocates small blocks and frees half
 * of them (into its own thread cache, under sysarena), hands the other half
 * to a worker, and calls pthread_exit. The worker waits until the main
 * thread is gone (its /proc/self/task entry a zombie), checks and frees the
 * handed-over blocks, allocates and frees again, and returns: the last
 * thread's exit ends the process. Its stats report must list only the
 * worker's cache: the main thread's went back when it exited.
 *
 * usage: main_exits  (prints "main_exits ok")
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define BLOCKS 4000

static unsigned char *handed[BLOCKS / 2];
static size_t sizes[BLOCKS / 2];

/* Whether the main thread (task id = pid) has exited: its state is Z. */
static int main_gone(void) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 5000 && !main_gone(); i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (!main_gone()) {
        fprintf(stderr, "the main thread did not exit\n");
        exit(4);
    }
    for (int i = 0; i < BLOCKS / 2; i++) {
        check(handed[i], sizes[i], (unsigned)i);
        free(handed[i]);
    }
    void *again[BLOCKS];
    for (int i = 0; i < BLOCKS; i++)
        again[i] = malloc(1 + (size_t)(i * 37) % 1024);
    for (int i = 0; i < BLOCKS; i++)
        free(again[i]);
    printf("main_exits ok\n");
    fflush(stdout);
    return NULL;
}

int main(void) {
    unsigned char *mine[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        size_t n = 1 + (size_t)(i * 131) % 1024;
        mine[i] = malloc(n);
        if (!mine[i])
            return 1;
        fill(mine[i], n, (unsigned)i / 2);
        if (i % 2)
            free(mine[i]);
        else {
            handed[i / 2] = mine[i];
            sizes[i / 2] = n;
        }
    }
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL))
        return 2;
    pthread_exit(NULL);
}
