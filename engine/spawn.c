#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

typedef struct {
  int pid;
  tl_spawn_exit_fn on_exit;
  void *ud;
} child;

/* One engine per process: the children it started this way and the handle that reaps them. */
static child *children;
static int nchildren, capchildren;
static uv_signal_t sigchld;
static int sigchld_open;

/* SIGCHLD may stand for several exits: every child of ours is asked (WNOHANG), and only
 * those (uv_spawn's children are libuv's to reap). */
static void on_sigchld(uv_signal_t *h, int signum) {
  (void)signum;
  for (int i = 0; i < nchildren;) {
    int st;
    pid_t r = waitpid(children[i].pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
      i++;
      continue;
    }
    child c = children[i];
    children[i] = children[--nchildren];
    int64_t status = r > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 0;
    int sig = r > 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    c.on_exit(h->loop, c.ud, status, sig);
    i = 0; /* the callback may have changed the list */
  }
}

/* What the child needs, in the engine's memory (the child shares it until its exec). */
typedef struct {
  const char *file;
  char **argv, **env;
  const char *cwd;
  const int *fds;
  const cpu_set_t *cpus;
  int report; /* write end of a close-on-exec pipe: the child's errno when a step failed */
} spawn_req;

/* The child, on the spawn stack, until its execve: only system calls, no allocation, no
 * return (an error writes its errno to the report pipe and _exits; the pipe, not the shared
 * memory, because a tool such as valgrind runs this child as a fork). Not instrumented: ASan's
 * bookkeeping knows nothing of this stack. */
#if defined(__SANITIZE_ADDRESS__)
#define TL_NO_ASAN __attribute__((no_sanitize("address")))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TL_NO_ASAN __attribute__((no_sanitize("address")))
#endif
#endif
#ifndef TL_NO_ASAN
#define TL_NO_ASAN
#endif
TL_NO_ASAN static int spawn_child(void *arg) {
  spawn_req *r = arg;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL); /* EINVAL: glibc's own */
  for (int i = 0; i < 3; i++) {
    /* dup2 onto itself keeps FD_CLOEXEC: clear it instead */
    if (r->fds[i] == i ? fcntl(i, F_SETFD, 0) != 0 : dup2(r->fds[i], i) != i) goto fail;
  }
  if (r->cwd && chdir(r->cwd) != 0) goto fail;
  if (setsid() < 0) goto fail;
  if (r->cpus && sched_setaffinity(0, sizeof *r->cpus, r->cpus) != 0) goto fail;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(r->file, r->argv, r->env);
fail:;
  int e = errno ? errno : EINVAL;
  while (write(r->report, &e, sizeof e) < 0 && errno == EINTR) {
  }
  _exit(127);
}

#define SPAWN_STACK (256 * 1024)

int tl_spawn(uv_loop_t *loop, const char *file, char **argv, char **env, const char *cwd,
             const int fds[3], const cpu_set_t *cpus, tl_spawn_exit_fn on_exit, void *ud,
             int *pid) {
  static char *stack; /* grows down from stack + SPAWN_STACK; only touched pages are mapped */
  if (!sigchld_open) {
    uv_signal_init(loop, &sigchld);
    uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
    uv_unref((uv_handle_t *)&sigchld); /* the children's connections keep the loop alive */
    sigchld_open = 1;
  }
  if (!stack) stack = tl_xmalloc(SPAWN_STACK);
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) != 0) return -errno;
  if (rp[1] < 3) { /* stdio the engine was started without: keep it clear of the dup2s */
    int w = fcntl(rp[1], F_DUPFD_CLOEXEC, 3);
    close(rp[1]);
    rp[1] = w;
  }
  spawn_req r = {file, argv, env, cwd, fds, cpus, rp[1]};
  /* no handler of the engine's may run in the child (it would run on the engine's memory
   * with the child's pid): everything is blocked until the child has reset them */
  sigset_t all, was;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &was);
  pid_t p = clone(spawn_child, stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &r);
  int cerr = errno;
  pthread_sigmask(SIG_SETMASK, &was, NULL);
  if (rp[1] >= 0) close(rp[1]);
  if (p < 0) {
    close(rp[0]);
    return -cerr;
  }
  int childerr = 0; /* end of file: the exec happened */
  ssize_t n;
  while ((n = read(rp[0], &childerr, sizeof childerr)) < 0 && errno == EINTR) {
  }
  close(rp[0]);
  if (n == (ssize_t)sizeof childerr && childerr) { /* no exec: reaped here, never a trial's */
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    return -childerr;
  }
  if (nchildren == capchildren) {
    capchildren = capchildren ? capchildren * 2 : 16;
    children = tl_xrealloc(children, (size_t)capchildren * sizeof *children);
  }
  children[nchildren++] = (child){p, on_exit, ud};
  *pid = p;
  /* an exit before the line above was registered is still seen: SIGCHLD reaches the loop's
   * handle later, in its own turn */
  return 0;
}

void tl_spawn_close(void) {
  if (sigchld_open) {
    uv_close((uv_handle_t *)&sigchld, NULL);
    sigchld_open = 0;
  }
  free(children);
  children = NULL;
  nchildren = capchildren = 0;
}
