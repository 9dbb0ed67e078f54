/* `tunelua compare` (docs/research.md): runs lua/tunelua/compare.lua, and the few functions it
 * calls through the FFI (tl_ffi_compare_*): spawn a child `tunelua run`, wait for children,
 * signal one, a monotonic clock, the CPU count, and the result series of a journal. */
#include "compare.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "script.h"
#include "util.h"

extern char **environ;

int tl_compare_main(int argc, char **argv) {
  const char *lua_dir = NULL; /* the state itself needs it before Lua reads the options */
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], "--lua-dir") == 0) lua_dir = argv[i + 1];
  return tl_script_main("tunelua.compare", lua_dir, argc, argv);
}

/* Starts argv[0] (an absolute path) with argv, the current environment plus env_add (NULL-
 * terminated "K=V" entries, which replace variables of the same name), stdin from /dev/null
 * and stdout and stderr into the file log. */
TL_EXPORT int tl_ffi_compare_spawn(const char **argv, const char **env_add, const char *log,
                                   int *pid, const char **err) {
  int nenv = 0, nadd = 0;
  while (environ[nenv]) nenv++;
  while (env_add && env_add[nadd]) nadd++;
  char **env = tl_xcalloc((size_t)(nenv + nadd + 1), sizeof *env);
  int k = 0;
  for (int i = 0; i < nenv; i++) {
    int replaced = 0;
    for (int j = 0; j < nadd && !replaced; j++) {
      const char *eq = strchr(env_add[j], '=');
      size_t n = eq ? (size_t)(eq - env_add[j]) + 1 : strlen(env_add[j]);
      replaced = strncmp(environ[i], env_add[j], n) == 0;
    }
    if (!replaced) env[k++] = environ[i];
  }
  for (int j = 0; j < nadd; j++) env[k++] = (char *)env_add[j];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t p;
  int rc = posix_spawn(&p, argv[0], &fa, NULL, (char *const *)argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  if (rc != 0) {
    *err = strerror(rc);
    return -1;
  }
  *pid = (int)p;
  return 0;
}

/* Waits up to timeout_s for any child to end: 1 with its pid and code (the exit status, or
 * 128 + the signal that killed it), 0 when none ended in time, -1 when there is no child. */
TL_EXPORT int tl_ffi_compare_wait(double timeout_s, int *pid, int *code) {
  struct timespec nap = {0, 5 * 1000 * 1000};
  double waited = 0;
  for (;;) {
    int status;
    pid_t p = waitpid(-1, &status, WNOHANG);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) return -1;
    if (p > 0) {
      *pid = (int)p;
      *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return 1;
    }
    if (waited >= timeout_s) return 0;
    nanosleep(&nap, NULL);
    waited += 0.005;
  }
}

TL_EXPORT int tl_ffi_compare_signal(int pid, int sig) { return kill((pid_t)pid, sig); }

/* SIGINT and SIGTERM only set a flag that the run loop reads (tl_ffi_compare_stopping): the
 * runs, in the same process group, get a terminal's Ctrl-C themselves and stop resumably;
 * compare then reports what they left. */
static volatile sig_atomic_t stopping;
static void on_stop_signal(int sig) { stopping = sig; }

TL_EXPORT void tl_ffi_compare_catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

TL_EXPORT int tl_ffi_compare_stopping(void) { return stopping; }

TL_EXPORT double tl_ffi_compare_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TL_EXPORT int tl_ffi_compare_ncpus(void) { return get_nprocs(); }

/* The path of this binary, for the child runs. */
TL_EXPORT int tl_ffi_compare_self(char *buf, int len) {
  ssize_t n = readlink("/proc/self/exe", buf, (size_t)len - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  return 0;
}

/* Reads a run's journal.jsonl: for every result line, in order, the top-level number
 * `metric` of the result (NaN when it has none), the time of the result (the virtual `vt`
 * under the simulate executor, else `t` less the experiment's start) and the trial (0-based,
 * in order of first result). The arrays are malloc'd; free each with tl_ffi_compare_free. */
TL_EXPORT int tl_ffi_compare_series(const char *journal, const char *metric, long *n,
                                    double **value, double **time, int **trial, int *ntrials,
                                    const char **err) {
  size_t len;
  char *text = tl_read_file(journal, &len);
  if (!text) {
    *err = "cannot read the journal";
    return -1;
  }
  long cap = 1024, count = 0;
  double *v = malloc((size_t)cap * sizeof *v), *t = malloc((size_t)cap * sizeof *t);
  int *tr = malloc((size_t)cap * sizeof *tr);
  char **ids = NULL;
  int nids = 0, cap_ids = 0;
  double t0 = NAN;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    int is_result = strstr(line, "\"ev\":\"result\"") != NULL;
    if (!is_result && !(isnan(t0) && strstr(line, "\"ev\":\"experiment\""))) continue;
    cJSON *o = cJSON_Parse(line);
    if (!o) continue; /* a torn last line after a crash */
    cJSON *jt = cJSON_GetObjectItemCaseSensitive(o, "t");
    if (!is_result) {
      if (cJSON_IsNumber(jt)) t0 = jt->valuedouble;
      cJSON_Delete(o);
      continue;
    }
    if (count == cap) {
      cap *= 2;
      v = realloc(v, (size_t)cap * sizeof *v);
      t = realloc(t, (size_t)cap * sizeof *t);
      tr = realloc(tr, (size_t)cap * sizeof *tr);
      if (!v || !t || !tr) abort();
    }
    cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "result");
    cJSON *m = r ? cJSON_GetObjectItemCaseSensitive(r, metric) : NULL;
    cJSON *vt = cJSON_GetObjectItemCaseSensitive(o, "vt");
    cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "trial");
    v[count] = cJSON_IsNumber(m) ? m->valuedouble : NAN;
    t[count] = cJSON_IsNumber(vt)   ? vt->valuedouble
               : cJSON_IsNumber(jt) ? jt->valuedouble - (isnan(t0) ? jt->valuedouble : t0)
                                    : NAN;
    int which = -1;
    const char *s = cJSON_IsString(id) ? id->valuestring : "";
    for (int i = nids - 1; i >= 0 && which < 0; i--)
      if (strcmp(ids[i], s) == 0) which = i;
    if (which < 0) {
      if (nids == cap_ids) {
        cap_ids = cap_ids ? 2 * cap_ids : 64;
        ids = realloc(ids, (size_t)cap_ids * sizeof *ids);
        if (!ids) abort();
      }
      ids[nids] = tl_strdup(s);
      which = nids++;
    }
    tr[count++] = which;
    cJSON_Delete(o);
  }
  for (int i = 0; i < nids; i++) free(ids[i]);
  free(ids);
  free(text);
  *n = count, *value = v, *time = t, *trial = tr, *ntrials = nids;
  return 0;
}

TL_EXPORT void tl_ffi_compare_free(void *p) { free(p); }
