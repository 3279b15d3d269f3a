/*
 * floodapp: the writer of the log-flood scenario (bench/benchlib/flood.py).
 *
 *   floodapp BYTES [STATS]
 *
 * Writes BYTES / 100 lines of exactly 100 bytes to stdout, as fast as it
 * can, in write(2)s of 64,000 bytes (640 whole lines; the last one shorter),
 * then exits 0. Line SEQ (from 0) is
 *
 *   "line " + SEQ as 12 decimal digits + " " + 81 times the letter
 *   'a' + SEQ % 26 + "\n"
 *
 * so a verifier can tell that every line is there exactly once, in order
 * and whole: the number says which line it is, the letters say it was not
 * cut or glued to another one.
 *
 * STATS (optional): after the last write, one JSON object is written there:
 * the lines and bytes written, CLOCK_MONOTONIC (the harness's clock) at the
 * start of main and after the last write, and this process's own CPU time
 * (getrusage RUSAGE_SELF), which the harness subtracts from a tree's.
 *
 * Static C, so that its own start-up and cost are as small as they can be.
 * A write error (EPIPE: the logger is gone) ends it with exit status 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define LINE 100
#define HEAD 18 /* "line " + 12 digits + " " */
#define FILL (LINE - HEAD - 1)
#define PER_WRITE 640

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv) {
    int64_t t0 = now_ns();
    if (argc < 2) {
        fprintf(stderr, "usage: floodapp BYTES [STATS]\n");
        return 64;
    }
    signal(SIGPIPE, SIG_DFL);
    unsigned long long lines = strtoull(argv[1], NULL, 10) / LINE;
    static char buf[PER_WRITE * LINE];
    char digits[12];
    memset(digits, '0', sizeof digits);
    for (int i = 0; i < PER_WRITE; i++) {
        memcpy(buf + i * LINE, "line ", 5);
        buf[i * LINE + HEAD - 1] = ' ';
        buf[i * LINE + LINE - 1] = '\n';
    }
    unsigned long long seq = 0;
    while (seq < lines) {
        int n = 0;
        for (; n < PER_WRITE && seq < lines; n++, seq++) {
            char *l = buf + n * LINE;
            memcpy(l + 5, digits, sizeof digits);
            memset(l + HEAD, 'a' + (int)(seq % 26), FILL);
            for (int k = 11; k >= 0; k--) { /* digits = seq + 1 */
                if (digits[k] != '9') {
                    digits[k]++;
                    break;
                }
                digits[k] = '0';
            }
        }
        if (write_all(1, buf, (size_t)n * LINE) < 0)
            return 2;
    }
    int64_t t1 = now_ns();
    if (argc > 2) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        char out[512];
        int len = snprintf(out, sizeof out,
                           "{\"lines\": %llu, \"bytes\": %llu, \"t0_ns\": %lld, \"t1_ns\": %lld, "
                           "\"utime_us\": %lld, \"stime_us\": %lld}\n",
                           lines, lines * LINE, (long long)t0, (long long)t1,
                           (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
                           (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec);
        /* Written to a temporary name and renamed: the harness sees it whole. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            int bad = write_all(fd, out, (size_t)len) < 0;
            close(fd);
            if (bad || rename(tmp, argv[2]) != 0)
                return 3;
        } else {
            return 3;
        }
    }
    return 0;
}
