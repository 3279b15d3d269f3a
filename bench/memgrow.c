/* memgrow: the app of scenario 13, memory-limit reaction (issue 16).

     memgrow MODE LIMIT LOCK [OUT]

   MODE is `cgroup` or `proc`: which figure it compares with LIMIT (bytes,
   or with a K/M/G suffix, powers of 1024 as tend reads max_memory), the
   same figure its supervisor compares:
   - cgroup: its cgroup's memory.current less inactive_file of memory.stat
     (the cgroup from /proc/self/cgroup), what tend reads in cgroup mode;
   - proc: its own RSS (resident pages of /proc/self/statm), what tend
     sums over the app's tree in /proc mode (the tree is this process).

   It takes LOCK (flock(2), held until it exits) so that runs under
   different supervisors do not overlap, waits a random 0-1000 ms (so the
   crossing falls at a random phase of a /proc sampler), then touches
   memory 256 KiB at a time, reading the figure after each step. When the
   figure first exceeds LIMIT it notes CLOCK_MONOTONIC; it grows at most
   AFTER more steps (1 MiB) while no signal came, then waits. Why it does
   not stop at once: memory.current counts the per-CPU charge stock too,
   pages the kernel charged to the cgroup ahead of use (up to 64 pages per
   CPU), which another cgroup's charge on that CPU gives back; the figure
   can read over LIMIT while what the app holds is still under it, and tend
   (whose own charges drain that stock on a single CPU) rightly sees no
   crossing until the app holds more. The crossing noted is thus the
   earliest reading over LIMIT: the reaction measured is, if anything, too
   long. The /proc figure (RSS) has no such stock.
   Its SIGTERM handler notes the time too. So does an idle sibling it forks
   before growing (same cgroup, same process group, asleep in sigsuspend):
   the supervisor signals it with the rest of the app, and as it neither
   allocates nor is throttled, its time is when the supervisor's signal
   arrived, apart from what the kernel makes the growing app go through
   before its handler may run (reclaim over memory.high). In proc mode the
   figure is the RSS of both (the tree tend sums). It then prints one line

     memgrow: mode=MODE limit=B used=B reaction_us=N signal_us=N wait_ms=W steps=S after=A step_us=U within=0|1

   (used: the figure that crossed; reaction_us: from the crossing to the
   app's handler; signal_us: from the crossing to the sibling's handler; within=1 when the signal came during the step that crossed,
   before the app's own reading: then reaction_us is from that step's
   start, an upper bound; after: steps grown after the crossing; step_us:
   how long the step that crossed took, touching and reading) and exits
   0. A signal before its own reading crossed prints `early` instead of
   reaction_us. With OUT the line is appended to that file instead, while
   the lock is held: one whole line per run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEP (256 << 10)
#define SPAN (1L << 30) /* address space reserved; only touched pages count */
#define AFTER 4         /* steps grown after the crossing, at most */

static volatile sig_atomic_t got_term;
static struct timespec t_term;

static void on_term(int sig) {
  (void)sig;
  clock_gettime(CLOCK_MONOTONIC, &t_term);
  got_term = 1;
}

static long long us(struct timespec t) { return t.tv_sec * 1000000LL + t.tv_nsec / 1000; }

static int slurp(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, n - 1);
  close(fd);
  if (r < 0) return -1;
  buf[r] = 0;
  return 0;
}

static char cg_current[512], cg_stat[512];

/* The cgroup v2 directory from /proc/self/cgroup's "0::/path" line. */
static int find_cgroup(void) {
  char buf[4096];
  if (slurp("/proc/self/cgroup", buf, sizeof buf)) return -1;
  char *p = strstr(buf, "0::");
  if (!p) return -1;
  p += 3;
  char *nl = strchr(p, '\n');
  if (nl) *nl = 0;
  if (strcmp(p, "/") == 0) p = "";
  snprintf(cg_current, sizeof cg_current, "/sys/fs/cgroup%s/memory.current", p);
  snprintf(cg_stat, sizeof cg_stat, "/sys/fs/cgroup%s/memory.stat", p);
  return 0;
}

static long long used_cgroup(void) {
  char buf[8192];
  if (slurp(cg_current, buf, sizeof buf)) return -1;
  long long current = atoll(buf);
  if (slurp(cg_stat, buf, sizeof buf)) return -1;
  char *p = strstr(buf, "\ninactive_file ");
  long long inactive = p ? atoll(p + 15) : 0;
  return current - inactive;
}

static pid_t sibling;

static long long resident(const char *statm) {
  char buf[256];
  long size, pages;
  if (slurp(statm, buf, sizeof buf)) return -1;
  if (sscanf(buf, "%ld %ld", &size, &pages) != 2) return -1;
  return (long long)pages * sysconf(_SC_PAGESIZE);
}

static long long used_proc(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/statm", (int)sibling);
  long long own = resident("/proc/self/statm"), sib = resident(path);
  return own < 0 ? -1 : own + (sib < 0 ? 0 : sib);
}

static long long parse_size(const char *s) {
  char *end;
  long long v = strtoll(s, &end, 10);
  switch (*end) {
  case 'K': return v << 10;
  case 'M': return v << 20;
  case 'G': return v << 30;
  default: return v;
  }
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5 || (strcmp(argv[1], "cgroup") && strcmp(argv[1], "proc"))) {
    fprintf(stderr, "usage: memgrow cgroup|proc LIMIT LOCK [OUT]\n");
    return 2;
  }
  int cgroup = strcmp(argv[1], "cgroup") == 0;
  long long limit = parse_size(argv[2]);
  if (cgroup && find_cgroup()) {
    fprintf(stderr, "memgrow: no cgroup v2 line in /proc/self/cgroup\n");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);

  int lock = open(argv[3], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || flock(lock, LOCK_EX) != 0) {
    perror("memgrow: lock");
    return 2;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  srand((unsigned)(now.tv_nsec ^ getpid()));
  int wait_ms = rand() % 1001;
  struct timespec w = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
  while (nanosleep(&w, &w) != 0 && errno == EINTR && !got_term)
    ;

  /* The idle sibling: notes when the signal came, in a shared page. */
  volatile long long *sib_term = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sib_term == MAP_FAILED) {
    perror("memgrow: mmap");
    return 2;
  }
  *sib_term = 0;
  sibling = fork();
  if (sibling < 0) {
    perror("memgrow: fork");
    return 2;
  }
  if (sibling == 0) {
    sigset_t none;
    sigemptyset(&none);
    while (!got_term) sigsuspend(&none);
    *sib_term = us(t_term);
    _exit(0);
  }

  char *mem = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    perror("memgrow: mmap");
    return 2;
  }
  long long used = 0;
  long steps = 0, after = 0;
  struct timespec t_cross = {0, 0};
  int crossed = 0;
  long long step_us = 0; /* how long the step that crossed took */
  struct timespec t0 = {0, 0}, t_step = {0, 0};
  while (!got_term && (long)(steps + 1) * STEP <= SPAN && after < AFTER) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(mem + steps * STEP, 0x5a, STEP);
    steps++;
    if (crossed) {
      after++;
      continue;
    }
    used = cgroup ? used_cgroup() : used_proc();
    if (used > limit) {
      clock_gettime(CLOCK_MONOTONIC, &t_cross);
      step_us = us(t_cross) - us(t0);
      t_step = t0;
      crossed = 1;
    }
  }
  /* Blocked while tested, let through only inside sigsuspend: a signal
     between the test and the wait cannot be missed. */
  sigset_t term, none;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigemptyset(&none);
  sigprocmask(SIG_BLOCK, &term, NULL);
  while (!got_term) sigsuspend(&none);

  /* The signal came during the step that crossed: the crossing was
     somewhere in that step, the reaction at most from the step's start. */
  int within = crossed && us(t_term) < us(t_cross);
  long long reaction = us(t_term) - us(within ? t_step : t_cross);
  waitpid(sibling, NULL, 0);
  long long signal_at = *sib_term;
  long long signal_us = signal_at ? signal_at - us(within || signal_at < us(t_cross) ? t_step : t_cross) : -1;
  char line[256];
  if (crossed)
    snprintf(line, sizeof line,
             "memgrow: mode=%s limit=%lld used=%lld reaction_us=%lld signal_us=%lld wait_ms=%d steps=%ld after=%ld "
             "step_us=%lld within=%d\n",
             argv[1], limit, used, reaction, signal_us, wait_ms, steps, after, step_us, within);
  else
    snprintf(line, sizeof line, "memgrow: mode=%s limit=%lld used=%lld early wait_ms=%d steps=%ld\n", argv[1],
             limit, cgroup ? used_cgroup() : used_proc(), wait_ms, steps);
  int out = argc == 5 ? open(argv[4], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : 1;
  if (out < 0 || write(out, line, strlen(line)) < 0) {
    perror("memgrow: write");
    return 1;
  }
  return 0;
}
