/* LD_PRELOAD library for bench/bench.py: when a process exits normally it
 * appends "COMM PID PSS_KB RSS_KB" from /proc/self/smaps_rollup to the file
 * $BENCH_PSS_OUT. PSS (proportional set size) divides each shared page by the
 * number of processes that map it, so the shared libraries a client loads
 * count for what they cost this host, where peak RSS counts them whole.
 * At exit, not at the peak: heap a process freed before then is usually still
 * resident (glibc keeps it), thread stacks stay cached. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((destructor)) static void bench_pss_at_exit(void) {
    const char *out = getenv("BENCH_PSS_OUT");
    if (out == NULL) {
        return;
    }
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL) {
        return;
    }
    char line[256];
    long rss = -1, pss = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        sscanf(line, "Rss: %ld", &rss);
        sscanf(line, "Pss: %ld", &pss);
    }
    fclose(f);
    char comm[64] = "?";
    f = fopen("/proc/self/comm", "r");
    if (f != NULL) {
        if (fscanf(f, "%63s", comm) != 1) {
            comm[0] = '?', comm[1] = '\0';
        }
        fclose(f);
    }
    f = fopen(out, "a");
    if (f != NULL) {
        fprintf(f, "%s %d %ld %ld\n", comm, (int)getpid(), pss, rss);
        fclose(f);
    }
}
