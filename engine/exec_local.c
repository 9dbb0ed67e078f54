#include "exec_local.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resources.h"
#include "cpulist.h"
#include "exec_slurm.h"
#include "proto.h"
#include "spawn.h"
#include "trial.h"

extern char **environ;

static void on_proc_close(uv_handle_t *h) { free(h); }

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  tl_trial *t = p->data;
  tl_engine *e = p->loop->data;
  uv_close((uv_handle_t *)p, on_proc_close);
  tl_trial_exited(e, t, status, sig);
}

/* Replaces (or adds) NAME=... so that each variable appears once. */
static void strv_set(tl_strv *s, const char *name, char *entry) {
  size_t len = strlen(name);
  for (int i = 0; i < s->n; i++)
    if (strncmp(s->v[i], name, len) == 0 && s->v[i][len] == '=') {
      free(s->v[i]);
      s->v[i] = entry;
      return;
    }
  tl_strv_push(s, entry);
}

char **tl_exec_env(tl_engine *e, tl_trial *t) {
  tl_strv s = {0};
  for (char **p = environ; *p; p++)
    if (strncmp(*p, "TUNELUA_", 8) != 0) tl_strv_push(&s, tl_strdup(*p));
  /* TUNELUA_* describe this trial and are never taken from elsewhere */
  strv_set(&s, "TUNELUA_CONNECT", e->slurm ? tl_strfmt("TUNELUA_CONNECT=tcp:%s", tl_slurm_connect(e))
                                           : tl_strfmt("TUNELUA_CONNECT=unix:%s", e->sock_path));
  strv_set(&s, "TUNELUA_TOKEN", tl_strfmt("TUNELUA_TOKEN=%s", e->token));
  strv_set(&s, "TUNELUA_TRIAL_ID", tl_strfmt("TUNELUA_TRIAL_ID=%s", t->id));
  strv_set(&s, "TUNELUA_TRIAL_DIR", tl_strfmt("TUNELUA_TRIAL_DIR=%s", t->dir));
  strv_set(&s, "TUNELUA_EXPERIMENT_DIR", tl_strfmt("TUNELUA_EXPERIMENT_DIR=%s", e->dir));
  /* the welcome its hello will get, so that a client can start on the config at once and
   * read the welcome later; left out when large (the environment has limits) */
  tl_buf w;
  tl_buf_init(&w);
  tl_buf_adds(&w, "TUNELUA_WELCOME=");
  tl_proto_welcome(e, t, &w);
  if (w.len <= TL_WELCOME_ENV_MAX) strv_set(&s, "TUNELUA_WELCOME", w.data); /* s owns it */
  else tl_buf_free(&w);
  if (e->trainers_dir) {
    const char *pp = getenv("PYTHONPATH");
    strv_set(&s, "PYTHONPATH",
             pp && *pp ? tl_strfmt("PYTHONPATH=%s/python:%s", e->trainers_dir, pp)
                       : tl_strfmt("PYTHONPATH=%s/python", e->trainers_dir));
    strv_set(&s, "TUNELUA_TRAINERS", tl_strfmt("TUNELUA_TRAINERS=%s", e->trainers_dir));
    const char *lp = getenv("LUA_PATH");
    strv_set(&s, "LUA_PATH", tl_strfmt("LUA_PATH=%s/lua/?.lua;%s", e->trainers_dir,
                                       lp && *lp ? lp : ";"));
  }
  if (e->bin_dir) {
    const char *path = getenv("PATH");
    strv_set(&s, "PATH", tl_strfmt("PATH=%s:%s", e->bin_dir, path ? path : "/usr/bin:/bin"));
  }
  /* the trial's share: threads for its CPUs, its own cards (none: an empty list) */
  const tl_alloc *a = t->alloc;
  int threads = a ? a->threads : (int)ceil(e->cpu_per_trial < 1 ? 1 : e->cpu_per_trial);
  static const char *thread_vars[] = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"};
  for (size_t i = 0; i < sizeof thread_vars / sizeof *thread_vars; i++)
    strv_set(&s, thread_vars[i], tl_strfmt("%s=%d", thread_vars[i], threads));
  if (a)
    strv_set(&s, "CUDA_VISIBLE_DEVICES", tl_strfmt("CUDA_VISIBLE_DEVICES=%s", a->cuda));
  else if (e->gpu_per_trial <= 0)
    strv_set(&s, "CUDA_VISIBLE_DEVICES", tl_strdup("CUDA_VISIBLE_DEVICES="));
  /* the experiment's trainer.env comes last: what the user sets explicitly wins */
  for (char **p = e->env; p && *p; p++) {
    char *eq = strchr(*p, '=');
    if (!eq) continue;
    char *name = tl_strdup(*p);
    name[eq - *p] = 0;
    strv_set(&s, name, tl_strdup(*p));
    free(name);
  }
  return s.v;
}

/* What execvp would do with cmd in the trial's environment (its PATH, not the engine's):
 * 0 with the file in *found (owned; may be NULL), or UV_ENOENT/UV_EACCES. Checked here
 * because the tunelua-bind wrapper execs the trainer after the spawn has succeeded, and
 * tl_spawn searches no PATH of the child's. */
static int find_cmd_path(const char *cmd, const char *cwd, char **env, char **found) {
  if (strchr(cmd, '/')) {
    char *p = cmd[0] == '/' ? tl_strdup(cmd) : tl_strfmt("%s/%s", cwd, cmd);
    int rc = access(p, X_OK) == 0 ? 0 : errno == EACCES ? UV_EACCES : UV_ENOENT;
    if (found && rc == 0) *found = p;
    else free(p);
    return rc;
  }
  const char *path = "/usr/bin:/bin";
  for (char **p = env; *p; p++)
    if (strncmp(*p, "PATH=", 5) == 0) path = *p + 5;
  int rc = UV_ENOENT;
  for (const char *d = path;; d++) {
    const char *end = strchr(d, ':');
    size_t len = end ? (size_t)(end - d) : strlen(d);
    char *f = len ? tl_strfmt("%.*s/%s", (int)len, d, cmd) : tl_strfmt("%s/%s", cwd, cmd);
    struct stat st;
    if (stat(f, &st) == 0 && S_ISREG(st.st_mode)) {
      if (access(f, X_OK) == 0) rc = 0;
      else rc = UV_EACCES;
    }
    if (rc == 0 && found) *found = f;
    else free(f);
    if (rc == 0 || !end) break;
    d = end;
  }
  return rc;
}

static int find_cmd(const char *cmd, const char *cwd, char **env) {
  return find_cmd_path(cmd, cwd, env, NULL);
}

/* A trial started by tl_spawn: t->proc only says that its process exists (it is no libuv
 * handle), and the exit takes the path of uv_spawn's. */
static uv_process_t spawned_direct;

static void on_direct_exit(uv_loop_t *loop, void *ud, int64_t status, int sig) {
  tl_trial_exited(loop->data, ud, status, sig);
}

/* A pinned trial gets its PUs without the exec of a binder: a direct spawn sets them in
 * the child before its exec, uv_spawn (a script without #!) inherits them from the loop's
 * thread, which takes them for that moment. 1 with the set in *cs when that can be done (the
 * list parses and lies within the engine's own affinity), 0 when the binder must do it. */
static int can_pin(const char *list, cpu_set_t *cs) {
  cpu_set_t own, both;
  if (tl_cpu_list(list, cs) != 0 || sched_getaffinity(0, sizeof own, &own) != 0) return 0;
  CPU_AND(&both, cs, &own);
  return CPU_COUNT(cs) > 0 && CPU_EQUAL(&both, cs);
}

/* The trial's stdin (/dev/null), stdout.log and stderr.log (appending) in fds; 0, or -1
 * with *err set and nothing left open. */
int tl_exec_stdio(tl_trial *t, int fds[3], char **err) {
  char *out = tl_strfmt("%s/stdout.log", t->dir), *errp = tl_strfmt("%s/stderr.log", t->dir);
  int fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int fd_out = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int fd_err = open(errp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  free(out), free(errp);
  if (fd_in < 0 || fd_out < 0 || fd_err < 0) {
    *err = tl_strfmt("cannot open the trial's log files in %s: %s", t->dir, strerror(errno));
    if (fd_in >= 0) close(fd_in);
    if (fd_out >= 0) close(fd_out);
    if (fd_err >= 0) close(fd_err);
    return -1;
  }
  fds[0] = fd_in, fds[1] = fd_out, fds[2] = fd_err;
  return 0;
}

int tl_exec_spawn(tl_engine *e, tl_trial *t, char **err) {
  if (e->slurm) return tl_slurm_spawn(e, t, err);
  int fds[3];
  if (tl_exec_stdio(t, fds, err) != 0) return -1;
  int fd_in = fds[0], fd_out = fds[1], fd_err = fds[2];
  char **env = tl_exec_env(e, t);
  uv_stdio_container_t stdio[3] = {{.flags = UV_INHERIT_FD, .data.fd = fd_in},
                                   {.flags = UV_INHERIT_FD, .data.fd = fd_out},
                                   {.flags = UV_INHERIT_FD, .data.fd = fd_err}};
  uv_process_options_t o = {0};
  o.file = e->cmd[0];
  o.args = e->cmd;
  /* pinned to its PUs: `tunelua-bind CPUS -- cmd...` sets the affinity, then execs cmd */
  char **argv = NULL;
  int rc = 0, pinned = 0;
  cpu_set_t cs, was;
  if (tl_resources_binding(e) && t->alloc && t->alloc->cpuset[0] &&
      !getenv("TUNELUA_SPAWN_BINDER"))
    pinned = can_pin(t->alloc->cpuset, &cs);
  if (tl_resources_binding(e) && t->alloc && t->alloc->cpuset[0] && !pinned) {
    rc = find_cmd(e->cmd[0], e->cwd, env);
    int n = 0;
    while (e->cmd[n]) n++;
    argv = tl_xcalloc((size_t)n + 4, sizeof *argv);
    int k = 0;
    argv[k++] = (char *)tl_resources_binder(e);
    argv[k++] = t->alloc->cpuset, argv[k++] = "--";
    memcpy(argv + k, e->cmd, (size_t)n * sizeof *argv);
    o.file = argv[0];
    o.args = argv;
  }
  o.env = env;
  o.cwd = e->cwd;
  o.exit_cb = on_exit_cb;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED; /* setsid: the trial leads its own process group */
  if (!argv && !getenv("TUNELUA_UV_SPAWN")) { /* no binder: tl_spawn, unless ENOEXEC */
    char *file = NULL;
    rc = find_cmd_path(e->cmd[0], e->cwd, env, &file);
    int pid = 0;
    if (rc == 0) {
      int src = tl_spawn(e->loop, file, e->cmd, env, e->cwd, fds, pinned ? &cs : NULL,
                         on_direct_exit, t, &pid);
      rc = src == 0 ? 0 : src == -ENOEXEC ? 1 : uv_translate_sys_error(-src);
    }
    free(file);
    if (rc <= 0) {
      close(fd_in), close(fd_out), close(fd_err);
      tl_strv_free(env);
      if (rc == 0) {
        t->proc = &spawned_direct;
        t->pid = pid;
        return 0;
      }
      *err = rc == UV_ENOENT ? tl_strfmt("trainer command not found: %s (run from %s)", e->cmd[0], e->cwd)
             : rc == UV_EACCES ? tl_strfmt("trainer command is not executable: %s", e->cmd[0])
                               : tl_strfmt("cannot start the trainer %s: %s", e->cmd[0], uv_strerror(rc));
      return -1;
    }
    rc = 0; /* a script without #!: execvp's sh fallback, through uv_spawn */
  }
  uv_process_t *p = tl_xcalloc(1, sizeof *p);
  p->data = t;
  int spawned = rc == 0;
  /* uv_spawn's child inherits the loop thread's affinity: take the trial's for the call */
  if (pinned && (sched_getaffinity(0, sizeof was, &was) != 0 ||
                 sched_setaffinity(0, sizeof cs, &cs) != 0))
    pinned = 0; /* refused after all: the trainer runs unpinned */
  if (spawned) rc = uv_spawn(e->loop, p, &o);
  if (pinned) sched_setaffinity(0, sizeof was, &was);
  free(argv);
  close(fd_in), close(fd_out), close(fd_err);
  tl_strv_free(env);
  if (rc != 0) {
    if (rc == UV_ENOENT)
      *err = tl_strfmt("trainer command not found: %s (run from %s)", e->cmd[0], e->cwd);
    else if (rc == UV_EACCES)
      *err = tl_strfmt("trainer command is not executable: %s", e->cmd[0]);
    else
      *err = tl_strfmt("cannot start the trainer %s: %s", e->cmd[0], uv_strerror(rc));
    if (spawned) uv_close((uv_handle_t *)p, on_proc_close); /* uv_spawn initialised it */
    else free(p);
    return -1;
  }
  t->proc = p;
  t->pid = p->pid;
  return 0;
}

void tl_exec_signal(tl_trial *t, int sig) {
  /* a trial started by tl_spawn has the zeroed marker spawned_direct, without a loop */
  tl_engine *e = t->proc && t->proc->loop ? t->proc->loop->data : NULL;
  if (e && e->slurm) {
    tl_slurm_signal(e, t, sig);
    return;
  }
  if (t->pid > 0 && !t->exited) {
    if (kill(-t->pid, sig) != 0) kill(t->pid, sig);
  }
}
