/* A wall clock that can be stepped under a running process, as NTP steps a Pi's.
 *
 * Preloaded (LD_PRELOAD) into one process: CLOCK_REALTIME, gettimeofday() and time() read
 * the real clock plus the whole seconds written in the file $CLOCKSHIFT_FILE, re-read at
 * most once a second. The monotonic clock and every sleep are left alone, exactly as when
 * NTP steps the clock of a machine without a real-time clock. (libfaketime cannot do this:
 * with its monotonic clock left real, every sleep fails with EINVAL.) Built by
 * bench/clocks.py with the system's C compiler.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime(void) {
    static clock_gettime_fn real;
    if (real == NULL)
        real = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return real;
}

static long long shift_s(void) {
    static long long cached;
    static time_t read_at = -1;
    struct timespec now;
    if (real_clock_gettime()(CLOCK_MONOTONIC_COARSE, &now) == 0 && now.tv_sec == read_at)
        return cached;
    read_at = now.tv_sec;
    const char *path = getenv("CLOCKSHIFT_FILE");
    FILE *file = path == NULL ? NULL : fopen(path, "r");
    if (file != NULL) {
        long long value;
        if (fscanf(file, "%lld", &value) == 1)
            cached = value;
        fclose(file);
    }
    return cached;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int rc = real_clock_gettime()(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += shift_s();
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    (void)tz;
    if (rc == 0 && tv != NULL) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
