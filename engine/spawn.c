#include "spawn.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

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

int tl_spawn(uv_loop_t *loop, const char *file, char **argv, char **env, const char *cwd,
             const int fds[3], tl_spawn_exit_fn on_exit, void *ud, int *pid) {
  if (!sigchld_open) {
    uv_signal_init(loop, &sigchld);
    uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
    uv_unref((uv_handle_t *)&sigchld); /* the children's connections keep the loop alive */
    sigchld_open = 1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  for (int i = 0; i < 3; i++) posix_spawn_file_actions_adddup2(&fa, fds[i], i);
  if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  pid_t p;
  int rc = posix_spawn(&p, file, &fa, &at, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) return -rc;
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
