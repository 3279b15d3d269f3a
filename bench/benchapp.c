/*
 * benchapp: the workload the benchmark runs under every init.
 *
 * One small static C program, so that every init supervises the same thing
 * and the app's own cost (exec, memory) is as small as it can be. Each mode
 * appends fixed-format lines "TAG MONOTONIC_NS PID\n" to LOG with one
 * O_APPEND write, so many instances can share one file; CLOCK_MONOTONIC is
 * the clock of the harness (Python's time.monotonic_ns) too.
 *
 * SIGTERM and SIGINT (PM2's default kill_signal) both mean "stop".
 *
 *   benchapp idle LOG             log "S", then sleep; SIGTERM: exit 0 at once
 *   benchapp termdelay MS LOG     log "S"; on SIGTERM wait MS ms, log "T", exit 0
 *   benchapp termexit CODE LOG    log "S"; on SIGTERM log "T" and exit CODE
 *   benchapp exit1 LOG            log "R START_NS END_NS PID", exit 1
 *   benchapp grow MIB LOG         log "S"; grow the RSS past MIB MiB, log "X" at
 *                                 the crossing, hold 32 MiB above; SIGTERM: log "T", exit 0
 *   benchapp orphans N OUT stay|exit MS
 *                                 N double forks (orphans that exit at once),
 *                                 then time until none is a zombie (giving up
 *                                 after MS ms); JSON to OUT; then wait for
 *                                 SIGTERM (stay) or exit 0
 *   benchapp hwm OUT              write VmHWM and VmRSS of PID 1 (kB) to OUT
 *
 * LOG may be "-" for no log.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_term;
static const char *logpath = "-";

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void logline(const char *line) {
    if (strcmp(logpath, "-") == 0)
        return;
    int fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t r = write(fd, line, strlen(line));
    (void)r;
    close(fd);
}

static void logtag(const char *tag) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s %lld %d\n", tag, (long long)now_ns(), (int)getpid());
    logline(buf);
}

static void on_term(int sig) {
    (void)sig;
    got_term = 1;
}

static void handle_term(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL); /* PM2's default kill_signal */
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Sleep until SIGTERM (pause() returns after the handler ran). */
static void wait_term(void) {
    sigset_t none;
    sigemptyset(&none);
    while (!got_term)
        sigsuspend(&none);
}

static long rss_kib(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    long size, res;
    if (sscanf(buf, "%ld %ld", &size, &res) != 2)
        return 0;
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int mode_grow(long mib) {
    handle_term();
    logtag("S");
    const size_t chunk = 4u << 20;
    long target = (mib + 32) * 1024;
    int crossed = 0;
    while (!got_term && rss_kib() < target) {
        char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 3;
        memset(p, 0x5a, chunk);
        if (!crossed && rss_kib() > mib * 1024) {
            crossed = 1;
            logtag("X");
        }
    }
    wait_term();
    logtag("T");
    return 0;
}

/* --- orphans ------------------------------------------------------------ */

static int alive(pid_t pid) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    return stat(path, &st) == 0;
}

static int count_zombies(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    int z = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%.200s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && rp[2] == 'Z')
            z++;
    }
    closedir(d);
    return z;
}

struct slot {
    int64_t exit_ns;
    int32_t pid;
    int32_t pad;
};

/* Drop the grandchildren that are gone (reaped). An entry < 0 is slot
 * -(entry+1) whose grandchild has not written its pid yet. */
static int prune(int *pending, int npending, struct slot *slots) {
    int k = 0;
    for (int j = 0; j < npending; j++) {
        int p = pending[j];
        if (p < 0) {
            int q = __atomic_load_n(&slots[-p - 1].pid, __ATOMIC_ACQUIRE);
            if (q <= 0) {
                pending[k++] = p;
                continue;
            }
            p = q;
        }
        if (alive(p))
            pending[k++] = p;
    }
    return k;
}

static int mode_orphans(int n, const char *out, int stay, long deadline_ms) {
    struct slot *slots = mmap(NULL, sizeof(struct slot) * n, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return 3;
    int *pending = calloc(n, sizeof(int));
    int npending = 0, failed = 0;
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            failed++;
        } else if (c == 0) {
            pid_t g = fork();
            if (g == 0) {
                __atomic_store_n(&slots[i].exit_ns, now_ns(), __ATOMIC_RELEASE);
                __atomic_store_n(&slots[i].pid, getpid(), __ATOMIC_RELEASE);
                _exit(0);
            }
            _exit(g < 0 ? 1 : 0);
        } else {
            while (waitpid(c, NULL, 0) < 0 && errno == EINTR) {
            }
        }
        pending[npending++] = -(i + 1);
        /* keep the list short: what the init reaped promptly leaves it */
        if ((i & 63) == 63)
            npending = prune(pending, npending, slots);
    }
    int64_t t_loop = now_ns();
    int64_t deadline = t_loop + deadline_ms * 1000000LL;
    int64_t t_clear = 0;
    for (;;) {
        npending = prune(pending, npending, slots);
        if (npending == 0) {
            t_clear = now_ns();
            break;
        }
        if (now_ns() > deadline)
            break;
        sched_yield();
    }
    int64_t last_exit = 0;
    int exited = 0;
    for (int i = 0; i < n; i++) {
        if (slots[i].exit_ns > last_exit)
            last_exit = slots[i].exit_ns;
        if (slots[i].pid > 0)
            exited++;
    }
    int zombies = count_zombies();
    FILE *f = fopen(out, "w");
    if (f) {
        fprintf(f,
                "{\"n\": %d, \"fork_failed\": %d, \"exited\": %d, \"t0_ns\": %lld, "
                "\"loop_end_ns\": %lld, \"last_exit_ns\": %lld, \"clear_ns\": %lld, "
                "\"pending\": %d, \"zombies_left\": %d}\n",
                n, failed, exited, (long long)t0, (long long)t_loop, (long long)last_exit,
                (long long)t_clear, npending, zombies);
        fclose(f);
    }
    if (stay) {
        handle_term();
        wait_term();
    }
    return 0;
}

static int mode_hwm(const char *out) {
    char buf[4096];
    int fd = open("/proc/1/status", O_RDONLY);
    if (fd < 0)
        return 3;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 3;
    buf[n] = 0;
    long hwm = -1, rss = -1;
    char *p = strstr(buf, "VmHWM:");
    if (p)
        hwm = strtol(p + 6, NULL, 10);
    p = strstr(buf, "VmRSS:");
    if (p)
        rss = strtol(p + 6, NULL, 10);
    FILE *f = fopen(out, "w");
    if (!f)
        return 3;
    fprintf(f, "{\"hwm_kib\": %ld, \"rss_kib\": %ld}\n", hwm, rss);
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: benchapp MODE ARGS... (see benchapp.c)\n");
        return 2;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "idle") == 0) {
        logpath = argv[2];
        handle_term();
        logtag("S");
        wait_term();
        return 0;
    }
    if (strcmp(mode, "termdelay") == 0 && argc >= 4) {
        logpath = argv[3];
        handle_term();
        logtag("S");
        wait_term();
        sleep_ms(atol(argv[2]));
        logtag("T");
        return 0;
    }
    if (strcmp(mode, "termexit") == 0 && argc >= 4) {
        logpath = argv[3];
        handle_term();
        logtag("S");
        wait_term();
        logtag("T");
        return atoi(argv[2]);
    }
    if (strcmp(mode, "exit1") == 0) {
        logpath = argv[2];
        int64_t start = now_ns();
        char buf[96];
        snprintf(buf, sizeof buf, "R %lld %lld %d\n", (long long)start, (long long)now_ns(),
                 (int)getpid());
        logline(buf);
        return 1;
    }
    if (strcmp(mode, "grow") == 0 && argc >= 4) {
        logpath = argv[3];
        return mode_grow(atol(argv[2]));
    }
    if (strcmp(mode, "orphans") == 0 && argc >= 6)
        return mode_orphans(atoi(argv[2]), argv[3], strcmp(argv[4], "stay") == 0, atol(argv[5]));
    if (strcmp(mode, "hwm") == 0)
        return mode_hwm(argv[2]);
    fprintf(stderr, "benchapp: unknown mode or missing arguments: %s\n", mode);
    return 2;
}
