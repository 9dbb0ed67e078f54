/* floor_spawn.c - the physical floors of B1 and B4: what spawning the same trainer costs
 * with no tuner in between.
 *
 *   floor_spawn bare   N K PARAMS_JSON PROGRAM   spawn PROGRAM N times, K at a time, with
 *       TUNELUA_PARAMS=PARAMS_JSON (the client's run-by-hand mode: no socket, the report
 *       goes to stdout, which is /dev/null here); measures posix_spawn -> waitpid.
 *   floor_spawn server N K PARAMS_JSON PROGRAM   the same, but with a minimal protocol peer:
 *       a Unix socket that answers hello with a constant welcome (also given in
 *       TUNELUA_WELCOME, as the engine does) and each report with
 *       {"type":"decision","action":"continue"}; measures posix_spawn -> first report
 *       received (what B4 measures of the engine), and posix_spawn -> waitpid (each exit is
 *       seen through a pidfd in the same poll(2) as the sockets).
 * Every trainer leads its own session (POSIX_SPAWN_SETSID), as the engine's do.
 *
 *   floor_spawn files  N K PARAMS_JSON PROGRAM DIR   as bare, and each trainer gets the
 *       files a tunelua trial has, in DIR/<n>/: stdout.log and stderr.log (its fd 1 and 2,
 *       created before the spawn) and result.jsonl, progress.csv and an events file (created
 *       empty after it): what a tuner that keeps per-trial logs asks of the file system.
 *
 * Prints one JSON line: {"mode":..,"n":..,"k":..,"wall_s":..,"mean_exit_ms":..,
 * "mean_first_report_ms":..}. Single-threaded, poll(2) based. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
  pid_t pid;
  int pidfd; /* server mode: readable once the child has exited */
  int fd;    /* connection, -1 before accept / after close */
  double t_spawn;
  int got_report;
  char buf[4096];
  size_t len;
} slot;

#define MAXK 256
static slot slots[MAXK];
static int nslots;

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  int files = strcmp(argv[1], "files") == 0;
  if (argc != 6 + files) {
    fprintf(stderr, "usage: floor_spawn bare|server N K PARAMS_JSON PROGRAM | files N K PARAMS_JSON PROGRAM DIR\n");
    return 2;
  }
  int server = strcmp(argv[1], "server") == 0;
  int n = atoi(argv[2]), k = atoi(argv[3]);
  if (k > MAXK) k = MAXK;
  const char *params = argv[4], *prog = argv[5];

  char sockpath[108] = "";
  int lfd = -1;
  if (server) {
    snprintf(sockpath, sizeof sockpath, "/tmp/floor_spawn-%d.sock", (int)getpid());
    unlink(sockpath);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, sockpath);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 512) != 0)
      die("socket");
  }

  /* environment: ours minus TUNELUA_*, plus the trainer's variables */
  int ne = 0;
  while (environ[ne]) ne++;
  char **env = calloc((size_t)ne + 8, sizeof *env);
  int m = 0;
  for (int i = 0; i < ne; i++)
    if (strncmp(environ[i], "TUNELUA_", 8) != 0) env[m++] = environ[i];
  char e1[4200], e2[256];
  if (server) {
    snprintf(e1, sizeof e1, "TUNELUA_CONNECT=unix:%s", sockpath);
    env[m++] = e1;
    env[m++] = "TUNELUA_TOKEN=floor";
    env[m++] = "TUNELUA_TRIAL_ID=00000";
    snprintf(e2, sizeof e2, "TUNELUA_TRIAL_DIR=/tmp");
    env[m++] = e2;
  } else {
    snprintf(e1, sizeof e1, "TUNELUA_PARAMS=%s", params);
    env[m++] = e1;
  }

  char welcome[4400];
  snprintf(welcome, sizeof welcome,
           "{\"type\":\"welcome\",\"trial\":\"00000\",\"config\":%s,\"restore\":null,"
           "\"iteration\":0,\"trial_dir\":\"/tmp\",\"shared\":{}}\n",
           params);
  /* as the engine does: the welcome is also in the environment, so the client need not wait */
  char e3[4500];
  snprintf(e3, sizeof e3, "TUNELUA_WELCOME=%.*s", (int)strlen(welcome) - 1, welcome);
  if (server) env[m++] = e3;
  env[m] = NULL;

  static const char decision[] = "{\"type\":\"decision\",\"action\":\"continue\",\"checkpoint\":false,\"iteration\":1}\n";

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  char *const av[] = {(char *)prog, NULL};
  /* each trainer leads its own session, as the engine's do (and as the client's early
   * welcome asks) */
  posix_spawnattr_t sa;
  posix_spawnattr_init(&sa);
  posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSID);

  int started = 0, finished = 0;
  double sum_exit = 0, sum_first = 0, t0 = now();
  /* connections accepted but not yet matched to a slot: the hello carries the pid */
  int pending[MAXK * 2];
  int npending = 0;
  char pbuf[MAXK * 2][4096];
  size_t plen[MAXK * 2];

  while (finished < n) {
    while (nslots < k && started < n) {
      slot *s = &slots[nslots++];
      memset(s, 0, sizeof *s);
      s->fd = -1;
      s->t_spawn = now();
      if (files) {
        char d[4096], p[4200];
        snprintf(d, sizeof d, "%s/%05d", argv[6], started);
        if (mkdir(d, 0755) != 0) die(d);
        posix_spawn_file_actions_t ff;
        posix_spawn_file_actions_init(&ff);
        posix_spawn_file_actions_addopen(&ff, 0, "/dev/null", O_RDONLY, 0);
        snprintf(p, sizeof p, "%s/stdout.log", d);
        int o = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        snprintf(p, sizeof p, "%s/stderr.log", d);
        int e = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o < 0 || e < 0) die(p);
        posix_spawn_file_actions_adddup2(&ff, o, 1);
        posix_spawn_file_actions_adddup2(&ff, e, 2);
        if (posix_spawn(&s->pid, prog, &ff, &sa, av, env) != 0) die("posix_spawn");
        posix_spawn_file_actions_destroy(&ff);
        close(o), close(e);
        static const char *const later[] = {"result.jsonl", "progress.csv", "events.out.tfevents.0.floor"};
        for (int f = 0; f < 3; f++) {
          snprintf(p, sizeof p, "%s/%s", d, later[f]);
          int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
          if (fd < 0) die(p);
          close(fd);
        }
      } else if (posix_spawn(&s->pid, prog, &fa, &sa, av, env) != 0) {
        die("posix_spawn");
      }
      /* server mode waits in poll(2) for the connections and the exits alike */
      s->pidfd = server ? (int)syscall(SYS_pidfd_open, s->pid, 0) : -1;
      if (server && s->pidfd < 0) die("pidfd_open");
      started++;
    }
    if (!server) {
      int st;
      pid_t p = waitpid(-1, &st, 0);
      double t = now();
      for (int i = 0; i < nslots; i++)
        if (slots[i].pid == p) {
          sum_exit += t - slots[i].t_spawn;
          slots[i] = slots[--nslots];
          finished++;
          break;
        }
      continue;
    }
    /* server mode: poll the listener, unmatched and matched connections */
    struct pollfd pf[1 + MAXK * 4];
    int np = 0;
    pf[np++] = (struct pollfd){lfd, POLLIN, 0};
    for (int i = 0; i < npending; i++) pf[np++] = (struct pollfd){pending[i], POLLIN, 0};
    for (int i = 0; i < nslots; i++) {
      if (slots[i].fd >= 0) pf[np++] = (struct pollfd){slots[i].fd, POLLIN, 0};
      pf[np++] = (struct pollfd){slots[i].pidfd, POLLIN, 0};
    }
    poll(pf, (nfds_t)np, -1);
    for (;;) {
      int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); /* reads never wait */
      if (c < 0) break;
      pending[npending] = c;
      plen[npending] = 0;
      npending++;
    }
    for (int i = 0; i < npending; i++) {
      ssize_t r = read(pending[i], pbuf[i] + plen[i], sizeof pbuf[i] - 1 - plen[i]);
      if (r <= 0) continue;
      plen[i] += (size_t)r;
      pbuf[i][plen[i]] = 0;
      char *nl = strchr(pbuf[i], '\n');
      if (!nl) continue;
      char *pp = strstr(pbuf[i], "\"pid\":");
      pid_t pid = pp ? (pid_t)atol(pp + 6) : -1;
      for (int j = 0; j < nslots; j++)
        if (slots[j].pid == pid) {
          slots[j].fd = pending[i];
          size_t rest = plen[i] - (size_t)(nl + 1 - pbuf[i]);
          memcpy(slots[j].buf, nl + 1, rest);
          slots[j].len = rest;
          if (write(slots[j].fd, welcome, strlen(welcome)) < 0) die("write");
          break;
        }
      pending[i] = pending[--npending];
      memcpy(pbuf[i], pbuf[npending], plen[npending]);
      plen[i] = plen[npending];
      i--;
    }
    for (int i = 0; i < nslots; i++) {
      slot *s = &slots[i];
      if (s->fd >= 0) {
        ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
        if (r > 0) s->len += (size_t)r;
        if (r == 0) {
          close(s->fd);
          s->fd = -1;
        }
        s->buf[s->len] = 0;
        char *nl;
        while ((nl = strchr(s->buf, '\n')) != NULL) {
          if (strstr(s->buf, "\"type\":\"report\"") && strstr(s->buf, "\"type\":\"report\"") < nl) {
            if (!s->got_report) sum_first += now() - s->t_spawn;
            s->got_report = 1;
            if (write(s->fd, decision, sizeof decision - 1) < 0) die("write");
          }
          size_t rest = s->len - (size_t)(nl + 1 - s->buf);
          memmove(s->buf, nl + 1, rest + 1);
          s->len = rest;
        }
      }
      int st;
      if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
        sum_exit += now() - s->t_spawn;
        if (s->fd >= 0) close(s->fd);
        close(s->pidfd);
        slots[i] = slots[--nslots];
        finished++;
        i--;
      }
    }
  }
  double wall = now() - t0;
  if (server) unlink(sockpath);
  printf("{\"mode\":\"%s\",\"n\":%d,\"k\":%d,\"wall_s\":%.6f,\"mean_exit_ms\":%.4f", argv[1], n, k,
         wall, sum_exit / n * 1e3);
  if (server) printf(",\"mean_first_report_ms\":%.4f", sum_first / n * 1e3);
  printf("}\n");
  return 0;
}
