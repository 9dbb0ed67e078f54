/* floor_stream.c - the floor of B3: the least a server can do for trainers that report back
 * to back, with the engine's own discipline and nothing else.
 *
 *   floor_stream K PARAMS_JSON PROGRAM JOURNAL
 *
 * Spawns PROGRAM K times (the C reporter, told by PARAMS_JSON how long to report) with the
 * trainer environment, and serves them over one Unix socket with epoll: hello gets a
 * constant welcome; each turn of the loop reads what is readable, appends every report line
 * to JOURNAL with one write(2) (as the engine's journal does, no fsync), then answers each
 * report with a constant continue decision, one write(2) per connection. No JSON parsing,
 * no scheduler, no logs: what is left is the kernel's cost of the same wakeups and
 * syscalls, which the engine's figure is compared with.
 *
 * Prints one JSON line: {"k":..,"results":..,"wall_s":..,"results_per_s":..,
 * "cpu_s":..,"us_per_result":..}, where cpu_s is this process's utime+stime (getrusage,
 * RUSAGE_SELF: the trainers are not counted) and wall_s runs from the first spawn to the
 * last report. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAXK 256

typedef struct {
  int fd;
  int replies; /* decisions owed this turn */
  int hello;   /* the hello was answered */
  char buf[8192];
  size_t len;
} conn;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) die("write");
    p += w;
    n -= (size_t)w;
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: floor_stream K PARAMS_JSON PROGRAM JOURNAL\n");
    return 2;
  }
  int k = atoi(argv[1]);
  if (k < 1 || k > MAXK) k = k < 1 ? 1 : MAXK;
  const char *params = argv[2], *prog = argv[3];
  int jfd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (jfd < 0) die(argv[4]);

  char sockpath[108];
  snprintf(sockpath, sizeof sockpath, "/tmp/floor_stream-%d.sock", (int)getpid());
  unlink(sockpath);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, sockpath);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 512) != 0) die("socket");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die("epoll");

  int ne = 0;
  while (environ[ne]) ne++;
  char **env = calloc((size_t)ne + 8, sizeof *env);
  int m = 0;
  for (int i = 0; i < ne; i++)
    if (strncmp(environ[i], "TUNELUA_", 8) != 0) env[m++] = environ[i];
  char e1[256];
  snprintf(e1, sizeof e1, "TUNELUA_CONNECT=unix:%s", sockpath);
  env[m++] = e1;
  env[m++] = "TUNELUA_TOKEN=floor";
  env[m++] = "TUNELUA_TRIAL_ID=00000";
  env[m++] = "TUNELUA_TRIAL_DIR=/tmp";
  env[m] = NULL;

  char welcome[4400];
  snprintf(welcome, sizeof welcome,
           "{\"type\":\"welcome\",\"trial\":\"00000\",\"config\":%s,\"restore\":null,"
           "\"iteration\":0,\"trial_dir\":\"/tmp\",\"shared\":{}}\n",
           params);
  static const char decision[] =
      "{\"type\":\"decision\",\"action\":\"continue\",\"checkpoint\":false,\"iteration\":1}\n";

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  char *const av[] = {(char *)prog, NULL};
  double t0 = now(), t_last = t0;
  for (int i = 0; i < k; i++) {
    pid_t pid;
    if (posix_spawn(&pid, prog, &fa, NULL, av, env) != 0) die("posix_spawn");
  }

  static conn conns[MAXK];
  int nconn = 0, open_conns = 0, accepted = 0;
  long results = 0;
  size_t jcap = 1 << 20, jlen = 0;
  char *jbuf = malloc(jcap);
  conn *touched[MAXK];
  while (accepted < k || open_conns > 0) {
    struct epoll_event evs[MAXK + 1];
    int n = epoll_wait(ep, evs, MAXK + 1, -1);
    int nt = 0;
    for (int e = 0; e < n; e++) {
      conn *c = evs[e].data.ptr;
      if (!c) { /* the listener */
        int fd;
        while (nconn < MAXK && (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
          c = &conns[nconn++];
          c->fd = fd;
          accepted++;
          open_conns++;
          struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce) != 0) die("epoll_ctl");
        }
        continue;
      }
      ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
      if (r <= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        open_conns--;
        continue;
      }
      c->len += (size_t)r;
      char *p = c->buf, *end = c->buf + c->len, *nl;
      while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t n1 = (size_t)(nl + 1 - p);
        if (!c->hello) {
          c->hello = 1;
          write_all(c->fd, welcome, strlen(welcome));
        } else if (n1 > 16 && memcmp(p, "{\"type\":\"report\"", 16) == 0) {
          if (jlen + n1 > jcap) jbuf = realloc(jbuf, jcap *= 2);
          memcpy(jbuf + jlen, p, n1);
          jlen += n1;
          if (c->replies++ == 0) touched[nt++] = c;
          results++;
        }
        p = nl + 1;
      }
      c->len = (size_t)(end - p);
      memmove(c->buf, p, c->len);
    }
    if (jlen) {
      write_all(jfd, jbuf, jlen); /* the turn's reports, before any of their decisions */
      jlen = 0;
      t_last = now();
    }
    for (int i = 0; i < nt; i++) {
      conn *c = touched[i];
      char out[sizeof decision * 64];
      while (c->replies > 0) {
        int b = c->replies < 64 ? c->replies : 64;
        for (int j = 0; j < b; j++) memcpy(out + j * (sizeof decision - 1), decision, sizeof decision - 1);
        write_all(c->fd, out, (size_t)b * (sizeof decision - 1));
        c->replies -= b;
      }
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  while (wait(NULL) > 0) {
  }
  unlink(sockpath);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec * 1e-6;
  double wall = t_last - t0;
  printf("{\"k\":%d,\"results\":%ld,\"wall_s\":%.4f,\"results_per_s\":%.1f,\"cpu_s\":%.4f,"
         "\"us_per_result\":%.4f}\n",
         k, results, wall, results / wall, cpu, results ? cpu / (double)results * 1e6 : 0.0);
  return 0;
}
