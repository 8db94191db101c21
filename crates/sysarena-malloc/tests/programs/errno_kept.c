/* malloc, realloc and free that succeed leave errno as the caller set it
 * (glibc >= 2.33 guarantees it for free; POSIX.1-2024 requires it). Four
 * threads trade blocks past the thread caches (4 KiB and more) so that the
 * shard locks are contended: a FUTEX_WAIT that failed with EAGAIN left it
 * set. Prints the number of calls that changed errno. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 64
static void *slot[SLOTS];
static long bad[4];

static void *work(void *arg) {
    long t = (long)arg;
    unsigned s = 12345u + (unsigned)t;
    for (int i = 0; i < 200000; i++) {
        s = s * 1103515245u + 12345u;
        errno = 0;
        void *p = malloc(4097 + (s >> 18) % 16384);
        if (p && errno != 0) bad[t]++;
        p = __atomic_exchange_n(&slot[(s >> 26) % SLOTS], p, __ATOMIC_ACQ_REL);
        errno = 0;
        free(p);
        if (errno != 0) bad[t]++;
    }
    return NULL;
}

int main(void) {
    pthread_t th[4];
    for (long t = 0; t < 4; t++) pthread_create(&th[t], NULL, work, (void *)t);
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    for (int i = 0; i < SLOTS; i++) free(slot[i]);
    printf("errno changed %ld times\n", bad[0] + bad[1] + bad[2] + bad[3]);
    return 0;
}
