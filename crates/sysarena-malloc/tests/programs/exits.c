/* Blocks outlive the threads and processes that allocated or cached them.
 *
 * THREADS threads each allocate BLOCKS small blocks (sizes 1..1024), free
 * half of them (into their own thread cache, under sysarena) and hand the
 * other half to main; then they wait. While they wait (their caches full),
 * main forks: the child frees every handed-over block, allocates and frees
 * again, and exits — its stats report must list only its own thread cache.
 * Then the threads exit, and main frees the handed-over blocks of threads
 * that no longer exist, allocates again and exits — again only its own
 * cache is listed. Every block's contents are checked before it is freed.
 *
 * usage: exits  (prints "exits ok" when the child and the parent agree)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

#define THREADS 4
#define BLOCKS 4000

static unsigned char *handed[THREADS][BLOCKS / 2];
static size_t sizes[THREADS][BLOCKS / 2];
static pthread_barrier_t ready, go;

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    uint64_t x = 0x9e3779b97f4a7c15ULL * (t + 1);
    unsigned char *mine[BLOCKS];
    size_t n[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        n[i] = 1 + x % 1024;
        mine[i] = malloc(n[i]);
        if (!mine[i])
            exit(2);
        fill(mine[i], n[i], t * 7 + i);
    }
    for (int i = 0; i < BLOCKS; i++) {
        if (i % 2) {
            check(mine[i], n[i], t * 7 + i);
            free(mine[i]);
        } else {
            handed[t][i / 2] = mine[i];
            sizes[t][i / 2] = n[i];
        }
    }
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    return NULL;
}

static void free_handed(void) {
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < BLOCKS / 2; i++) {
            check(handed[t][i], sizes[t][i], t * 7 + 2 * i);
            free(handed[t][i]);
        }
    /* The allocator still works, and reuses what came back. */
    void *again[1000];
    for (int i = 0; i < 1000; i++)
        if (!(again[i] = malloc(1 + i % 1024)))
            exit(2);
    for (int i = 0; i < 1000; i++)
        free(again[i]);
}

int main(void) {
    pthread_t th[THREADS];
    pthread_barrier_init(&ready, NULL, THREADS + 1);
    pthread_barrier_init(&go, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    pthread_barrier_wait(&ready);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        free_handed();
        exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed: %d\n", status);
        return 1;
    }
    pthread_barrier_wait(&go);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    free_handed();
    printf("exits ok\n");
    return 0;
}
