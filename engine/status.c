#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "table.h"
#include "trial.h"

/* ---- the engine's lock file ---- */

static int lock_fd = -1; /* one engine per process */
static char *lock_path;  /* absolute, owned while locked */

int tl_status_lock(const char *dir, char **err) {
  if (lock_fd >= 0) return 0;
  char *real = realpath(dir, NULL);
  char *path = tl_strfmt("%s/engine.lock", real ? real : dir);
  free(real);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *err = tl_strfmt("cannot open %s: %s", path, strerror(errno));
    free(path);
    return -1;
  }
  /* `tunelua status` holds a shared lock for an instant: try for half a second */
  int ok = 0;
  for (int i = 0; i < 50 && !ok; i++) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      ok = 1;
    else if (errno == EWOULDBLOCK || errno == EINTR)
      usleep(10000);
    else
      break;
  }
  if (!ok) {
    char pid[32] = "?";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 1] = 0;
    pid[strcspn(pid, "\n")] = 0;
    *err = tl_strfmt(
        "%s is in use by another tunelua engine (pid %s); wait for it to end or "
        "stop it first",
        dir, pid);
    close(fd);
    free(path);
    return -1;
  }
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) { /* the lock still works */
  }
  lock_fd = fd;
  lock_path = path;
  return 0;
}

void tl_status_unlock(void) {
  if (lock_fd < 0) return;
  unlink(lock_path); /* while still held: nobody can mistake a finished run for a crashed one */
  free(lock_path);
  lock_path = NULL;
  close(lock_fd);
  lock_fd = -1;
}

/* Whether an engine holds DIR/engine.lock; its pid (from the file) or 0. A file that is
 * there but free is what a killed engine leaves. */
static int engine_alive(const char *dir, long *pid, int *left) {
  char *path = tl_strfmt("%s/engine.lock", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  *pid = 0, *left = 0;
  if (fd < 0) return 0;
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  *pid = atol(buf);
  int alive = 0;
  if (flock(fd, LOCK_SH | LOCK_NB) == 0)
    flock(fd, LOCK_UN), *left = 1;
  else
    alive = errno == EWOULDBLOCK;
  close(fd);
  return alive;
}

/* ---- the experiment's state: summary.json brought up to date from the journal ---- */

typedef struct {
  char *dir;     /* absolute */
  cJSON *doc;    /* summary.json (or a skeleton), updated in place */
  cJSON *trials; /* its "trials" array */
  cJSON **idx;   /* the trial objects in order, for lookups */
  int n, cap;
  double mtime; /* of summary.json, Unix seconds; -inf when there is none */
  const char *metric;
  int mode; /* 1 max, -1 min, 0 none */
} view;

static void put(cJSON *obj, const char *key, cJSON *val) {
  if (cJSON_GetObjectItemCaseSensitive(obj, key))
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, val);
  else
    cJSON_AddItemToObject(obj, key, val);
}

static const char *str_of(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *key, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void index_add(view *v, cJSON *t) {
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 64;
    v->idx = tl_xrealloc(v->idx, (size_t)v->cap * sizeof *v->idx);
  }
  v->idx[v->n++] = t;
}

/* Trial ids are usually their position ("00042"): try that first. */
static cJSON *find(view *v, const char *id) {
  char *end;
  long i = strtol(id, &end, 10);
  if (*id && !*end && i >= 0 && i < v->n && strcmp(str_of(v->idx[i], "id"), id) == 0)
    return v->idx[i];
  for (int k = 0; k < v->n; k++)
    if (strcmp(str_of(v->idx[k], "id"), id) == 0) return v->idx[k];
  return NULL;
}

static int metric_of(const view *v, const cJSON *result, double *out) {
  const cJSON *m = v->metric && result ? cJSON_GetObjectItemCaseSensitive(result, v->metric) : NULL;
  if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble)) return 0;
  *out = m->valuedouble;
  return 1;
}

static int better(const view *v, double a, double b) { return v->mode < 0 ? a < b : a > b; }

static cJSON *new_trial(view *v, const char *id, const cJSON *config) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "id", id);
  cJSON_AddStringToObject(t, "status", "PENDING");
  cJSON_AddItemToObject(t, "config", config ? cJSON_Duplicate(config, 1) : cJSON_CreateObject());
  cJSON_AddNumberToObject(t, "iterations", 0);
  cJSON_AddNumberToObject(t, "failures", 0);
  cJSON_AddNullToObject(t, "last_result");
  cJSON_AddNullToObject(t, "best_result");
  cJSON_AddNullToObject(t, "error");
  cJSON_AddNullToObject(t, "checkpoint");
  char *dir = tl_strfmt("trials/%s", id);
  cJSON_AddStringToObject(t, "dir", dir);
  free(dir);
  cJSON_AddItemToArray(v->trials, t);
  index_add(v, t);
  return t;
}

/* One journal event on top of the state: every field it touches is set, never added to, so
 * an event that summary.json already holds may be applied again. */
static void apply(view *v, const cJSON *ev) {
  const char *kind = str_of(ev, "ev"), *id = str_of(ev, "trial");
  if (!kind) return;
  if (strcmp(kind, "experiment") == 0 || strcmp(kind, "resumed") == 0) {
    const char *name = str_of(ev, "name");
    if (name && !str_of(v->doc, "name")) put(v->doc, "name", cJSON_CreateString(name));
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ev, "seed")))
      put(v->doc, "seed", cJSON_CreateNumber(num_of(ev, "seed", 0)));
    put(v->doc, "status", cJSON_CreateString("running"));
    return;
  }
  if (strcmp(kind, "experiment_end") == 0) {
    const char *s = str_of(ev, "status");
    put(v->doc, "status", cJSON_CreateString(s ? s : "done"));
    return;
  }
  if (!id) return;
  cJSON *t = find(v, id);
  if (strcmp(kind, "trial_added") == 0) {
    if (!t) new_trial(v, id, cJSON_GetObjectItemCaseSensitive(ev, "config"));
    return;
  }
  if (!t) return;
  if (strcmp(kind, "status") == 0) {
    const char *s = str_of(ev, "status"), *reason = str_of(ev, "reason");
    double failures = num_of(ev, "failures", num_of(t, "failures", 0));
    if (s) put(t, "status", cJSON_CreateString(s));
    put(t, "iterations", cJSON_CreateNumber(num_of(ev, "iteration", num_of(t, "iterations", 0))));
    if (reason && failures > num_of(t, "failures", 0)) { /* a new failure: "WHY; retry 1 of 2" */
      const char *retry = strstr(reason, "; retry ");
      char *why = tl_strfmt("%.*s", retry ? (int)(retry - reason) : (int)strlen(reason), reason);
      put(t, "error", cJSON_CreateString(why));
      free(why);
    }
    put(t, "failures", cJSON_CreateNumber(failures));
    if (s && strcmp(s, "ERROR") == 0 && reason) put(t, "error", cJSON_CreateString(reason));
    if (s && strcmp(s, "TERMINATED") == 0) put(t, "error", cJSON_CreateNull());
  } else if (strcmp(kind, "result") == 0) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(ev, "result");
    if (!cJSON_IsObject(r)) return;
    put(t, "iterations",
        cJSON_CreateNumber(num_of(r, "training_iteration", num_of(t, "iterations", 0))));
    put(t, "last_result", cJSON_Duplicate(r, 1));
    double x, b;
    if (metric_of(v, r, &x) &&
        (!metric_of(v, cJSON_GetObjectItemCaseSensitive(t, "best_result"), &b) || better(v, x, b)))
      put(t, "best_result", cJSON_Duplicate(r, 1));
  } else if (strcmp(kind, "exploit") == 0) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(ev, "config");
    if (cJSON_IsObject(cfg)) put(t, "config", cJSON_Duplicate(cfg, 1));
  } else if (strcmp(kind, "checkpoint") == 0) {
    const char *p = str_of(ev, "path");
    size_t n = strlen(v->dir);
    if (p)
      put(t, "checkpoint",
          cJSON_CreateString(strncmp(p, v->dir, n) == 0 && p[n] == '/' ? p + n + 1 : p));
  }
}

/* The "t" (Unix time) of the journal line at s, or -inf when it has none. */
static double line_time(const char *s, const char *end) {
  for (const char *p = s; p + 4 < end; p++)
    if (memcmp(p, "\"t\":", 4) == 0) return strtod(p + 4, NULL);
  return -INFINITY;
}

/* The end of journal.jsonl from the last line older than cutoff (the whole file for -inf):
 * windows growing from the end until one starts before cutoff, so a fresh summary.json costs
 * only the last second of events. */
static char *journal_tail(const char *path, double cutoff, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0) return NULL;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size, win = 1 << 16;
  char *buf = NULL;
  for (;;) {
    size_t from = isinf(cutoff) || win >= size ? 0 : size - win;
    size_t n = size - from, got = 0;
    buf = tl_xrealloc(buf, n + 1);
    while (got < n) {
      ssize_t r = pread(fd, buf + got, n - got, (off_t)(from + got));
      if (r <= 0) break;
      got += (size_t)r;
    }
    buf[got] = 0;
    size_t start = 0;
    char *nl = from ? memchr(buf, '\n', got) : NULL;
    if (from && nl) start = (size_t)(nl - buf) + 1;
    char *end = memchr(buf + start, '\n', got - start);
    if (from == 0 || (nl && end && line_time(buf + start, end) < cutoff)) {
      memmove(buf, buf + start, got - start + 1);
      *len = got - start;
      close(fd);
      return buf;
    }
    win *= 4;
  }
}

static void apply_journal(view *v) {
  char *path = tl_strfmt("%s/journal.jsonl", v->dir);
  double cutoff = isinf(v->mtime) ? -INFINITY : v->mtime - 2; /* a margin for clock steps */
  size_t len = 0;
  char *text = journal_tail(path, cutoff, &len);
  free(path);
  if (!text) return;
  for (char *line = text, *nl; (nl = memchr(line, '\n', len - (size_t)(line - text)));
       line = nl + 1) {
    if (line_time(line, nl) < cutoff) continue; /* summary.json has it */
    cJSON *ev = cJSON_ParseWithLength(line, (size_t)(nl - line));
    if (ev) apply(v, ev);
    cJSON_Delete(ev);
  } /* a last line without its newline is one being written: left for the next look */
  free(text);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void view_free(view *v);

/* DIR is not an experiment: names the experiments directly in it (a `tunelua compare`
 * directory, tunelua_runs/ itself), each with its state, so that the next command is plain.
 * Prints nothing when there are none. */
static void list_experiments(const char *cmd, const char *dir) {
  struct dirent **ents;
  int n = scandir(dir, &ents, NULL, alphasort), shown = 0;
  int len = (int)strlen(dir);
  while (len > 1 && dir[len - 1] == '/') len--;
  for (int i = 0; i < n; i++) {
    char *sub = tl_strfmt("%s/%s", dir, ents[i]->d_name);
    char *sum = tl_strfmt("%s/summary.json", sub), *jour = tl_strfmt("%s/journal.jsonl", sub);
    if (ents[i]->d_name[0] != '.' && is_dir(sub) &&
        (access(sum, R_OK) == 0 || access(jour, R_OK) == 0)) {
      if (shown == 0)
        fprintf(stderr, "  the experiments in it (tunelua %s %.*s/NAME):\n", cmd, len, dir);
      long pid;
      int left;
      char *text = tl_read_file(sum, NULL);
      cJSON *doc = text ? cJSON_Parse(text) : NULL;
      const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "status"));
      if (engine_alive(sub, &pid, &left))
        state = "running";
      else if (!state || strcmp(state, "running") == 0)
        state = "interrupted (engine gone)";
      if (shown++ < 20) fprintf(stderr, "  %-24s %s\n", ents[i]->d_name, state);
      cJSON_Delete(doc);
      free(text);
    }
    free(sub), free(sum), free(jour), free(ents[i]);
  }
  if (shown > 20) fprintf(stderr, "  ... and %d more\n", shown - 20);
  if (n >= 0) free(ents);
}

/* Reads DIR into v; 0, or an exit code after a message. */
static int load(view *v, const char *cmd, const char *dir) {
  memset(v, 0, sizeof *v);
  if (!is_dir(dir)) {
    fprintf(stderr, "tunelua %s: %s: %s\n", cmd, dir,
            access(dir, F_OK) == 0 ? "not a directory" : "no such directory");
    return TL_EXIT_USAGE;
  }
  v->dir = realpath(dir, NULL);
  char *sum = tl_strfmt("%s/summary.json", v->dir), *jour = tl_strfmt("%s/journal.jsonl", v->dir);
  struct stat st;
  char *text = tl_read_file(sum, NULL);
  v->doc = text ? cJSON_Parse(text) : NULL;
  if (text && !cJSON_IsObject(v->doc))
    fprintf(stderr, "tunelua %s: %s is not valid JSON; reading the journal alone\n", cmd, sum);
  v->mtime = cJSON_IsObject(v->doc) && stat(sum, &st) == 0
                 ? (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9
                 : -INFINITY;
  int has_journal = access(jour, R_OK) == 0;
  free(text);
  if (!cJSON_IsObject(v->doc) && !has_journal) {
    fprintf(stderr,
            "tunelua %s: %s is not an experiment directory (no summary.json or "
            "journal.jsonl in it)\n",
            cmd, dir);
    list_experiments(cmd, dir);
    free(sum), free(jour);
    view_free(v);
    return TL_EXIT_USAGE;
  }
  free(sum), free(jour);
  if (!cJSON_IsObject(v->doc)) {
    cJSON_Delete(v->doc);
    v->doc = cJSON_CreateObject();
    cJSON_AddNullToObject(v->doc, "metric");
    cJSON_AddNullToObject(v->doc, "mode");
    cJSON_AddStringToObject(v->doc, "status", "running");
  }
  v->trials = cJSON_GetObjectItemCaseSensitive(v->doc, "trials");
  if (!cJSON_IsArray(v->trials)) {
    v->trials = cJSON_CreateArray();
    put(v->doc, "trials", v->trials);
  }
  for (cJSON *t = v->trials->child; t; t = t->next)
    if (str_of(t, "id")) index_add(v, t);
  v->metric = str_of(v->doc, "metric");
  const char *mode = str_of(v->doc, "mode");
  v->mode = !mode ? 0 : strcmp(mode, "min") == 0 ? -1 : 1;
  apply_journal(v);
  return 0;
}

static void view_free(view *v) {
  cJSON_Delete(v->doc);
  free(v->idx);
  free(v->dir);
}

/* ---- output ---- */

static const char *state_names[] = {"PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"};

static int state_of(const cJSON *t) {
  const char *s = str_of(t, "status");
  for (int i = 0; s && i < 5; i++)
    if (strcmp(s, state_names[i]) == 0) return i;
  return 0;
}

typedef struct {
  const char *status; /* running, done, interrupted, failed */
  const char *engine; /* running, ended, gone */
  long pid;
  double elapsed, age;
  int counts[5];
  double results;
  int best; /* index into v->idx, -1 none */
  double best_value;
} facts;

static void gather(view *v, facts *f) {
  memset(f, 0, sizeof *f);
  int left;
  int alive = engine_alive(v->dir, &f->pid, &left);
  const char *recorded = str_of(v->doc, "status");
  if (!recorded) recorded = "running";
  double now = tl_wallclock();
  f->age = isinf(v->mtime) ? -1 : now - v->mtime;
  f->elapsed = num_of(v->doc, "elapsed_s", 0) + (alive && f->age > 0 ? f->age : 0);
  if (alive) {
    f->status = "running", f->engine = "running";
  } else if (strcmp(recorded, "running") == 0) {
    /* it never wrote its end: killed (kill -9, OOM), crashed, or the machine went down */
    f->status = "interrupted", f->engine = "gone";
  } else {
    f->status = recorded, f->engine = "ended";
    if (!left) f->pid = 0;
  }
  f->best = -1;
  for (int i = 0; i < v->n; i++) {
    f->counts[state_of(v->idx[i])]++;
    f->results += num_of(v->idx[i], "iterations", 0);
    double x;
    if (metric_of(v, cJSON_GetObjectItemCaseSensitive(v->idx[i], "last_result"), &x) &&
        (f->best < 0 || better(v, x, f->best_value)))
      f->best = i, f->best_value = x;
  }
}

static void add_kv(void *ud, const char *key, const cJSON *val) {
  tl_buf *b = ud;
  char cell[64];
  tl_table_fmt(val, cell, sizeof cell);
  tl_buf_printf(b, " %s=%s", key, cell);
}

static void print_header(view *v, facts *f, const char *given) {
  char el[32];
  tl_fmt_duration(f->elapsed, el, sizeof el);
  const char *name = str_of(v->doc, "name");
  printf("experiment  %s", name ? name : "?");
  if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(v->doc, "seed")))
    printf(" (seed %.0f)", num_of(v->doc, "seed", 0));
  printf("\ndirectory   %s\n", v->dir);
  if (strcmp(f->engine, "running") == 0)
    printf("status      running (engine pid %ld), %s elapsed\n", f->pid, el);
  else if (strcmp(f->engine, "gone") == 0) {
    char who[48] = "";
    if (f->pid) snprintf(who, sizeof who, " (pid %ld)", f->pid);
    printf(
        "status      interrupted: the engine%s is gone without finishing (killed or crashed); "
        "`tunelua resume %s` continues it\n",
        who, given);
  } else if (strcmp(f->status, "done") == 0)
    printf("status      done, %s elapsed\n", el);
  else
    printf("status      %s, %s elapsed; `tunelua resume %s` continues it\n", f->status, el, given);
  printf(
      "trials      %d: %d running, %d pending, %d paused, %d terminated, %d error; %.0f results\n",
      v->n, f->counts[1], f->counts[0], f->counts[2], f->counts[3], f->counts[4], f->results);
  if (f->best < 0) {
    printf("best        %s\n",
           v->metric ? "none yet" : "no metric (set metric= in the experiment)");
    return;
  }
  cJSON *t = v->idx[f->best];
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_adds(&b, ";");
  tl_buf prefix;
  tl_buf_init(&prefix);
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(t, "config");
  if (cJSON_IsObject(cfg)) tl_json_flatten(cfg, &prefix, add_kv, &b);
  tl_buf_free(&prefix);
  printf("best        trial %s: %s=%.6g at iteration %.0f%s\n", str_of(t, "id"), v->metric,
         f->best_value, num_of(t, "iterations", 0), b.len > 1 ? b.data : "");
  tl_buf_free(&b);
}

static const view *sort_view;
static int rank_of(const cJSON *t) {
  static const int rank[] = {2, 0, 1, 4, 3}; /* running, paused, pending, error, terminated */
  return rank[state_of(t)];
}
/* status: what is going on first (RUNNING, PAUSED, PENDING, ERROR, TERMINATED), then by id. */
static int by_state(const void *a, const void *b) {
  const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
  int d = rank_of(x) - rank_of(y);
  return d ? d : strcmp(str_of(x, "id"), str_of(y, "id"));
}
/* summary: best last result first, trials without one last, then by id. */
static int by_metric(const void *a, const void *b) {
  const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
  double vx = 0, vy = 0;
  int hx = metric_of(sort_view, cJSON_GetObjectItemCaseSensitive(x, "last_result"), &vx);
  int hy = metric_of(sort_view, cJSON_GetObjectItemCaseSensitive(y, "last_result"), &vy);
  if (hx != hy) return hy - hx;
  if (hx && vx != vy) return better(sort_view, vx, vy) ? -1 : 1;
  return strcmp(str_of(x, "id"), str_of(y, "id"));
}

static void print_table(view *v, cJSON **order, int n, int limit, const char *given) {
  tl_table tb;
  tl_table_init(&tb);
  tl_table_col(&tb, "trial", 0, 0);
  tl_table_col(&tb, "status", 0, 0);
  tl_table_col(&tb, "iter", 1, 0);
  tl_table_col(&tb, v->metric ? v->metric : "-", 1, 14);
  tl_table_col(&tb, "fails", 1, 0);
  int show = limit > 0 && n > limit ? limit : n;
  for (int i = 0; i < show; i++) {
    cJSON *t = order[i];
    int r = tl_table_row(&tb);
    char cell[64];
    tl_table_set(&tb, r, 0, str_of(t, "id"));
    tl_table_set(&tb, r, 1, str_of(t, "status"));
    snprintf(cell, sizeof cell, "%.0f", num_of(t, "iterations", 0));
    tl_table_set(&tb, r, 2, cell);
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(t, "last_result");
    tl_table_fmt(v->metric && cJSON_IsObject(last)
                     ? cJSON_GetObjectItemCaseSensitive(last, v->metric)
                     : NULL,
                 cell, sizeof cell);
    tl_table_set(&tb, r, 3, cell);
    snprintf(cell, sizeof cell, "%.0f", num_of(t, "failures", 0));
    tl_table_set(&tb, r, 4, cell);
    tl_table_config(&tb, r, cJSON_GetObjectItemCaseSensitive(t, "config"));
  }
  struct winsize ws;
  int width = isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20
                  ? ws.ws_col - 1
                  : 0;
  tl_buf b;
  tl_buf_init(&b);
  int left_out = tl_table_render(&tb, &b, width);
  fputs(b.data ? b.data : "", stdout);
  tl_buf_free(&b);
  tl_table_free(&tb);
  if (show < n) printf("... and %d more (tunelua summary %s lists them all)\n", n - show, given);
  if (left_out)
    printf("(%d config columns left out to fit the terminal; --json has them all)\n", left_out);
}

static void print_text(view *v, facts *f, int summary, const char *given) {
  print_header(v, f, given);
  if (v->n == 0) return;
  cJSON **order = tl_xmalloc((size_t)v->n * sizeof *order);
  memcpy(order, v->idx, (size_t)v->n * sizeof *order);
  sort_view = v;
  qsort(order, (size_t)v->n, sizeof *order, summary ? by_metric : by_state);
  printf("\n");
  print_table(v, order, v->n, summary ? 0 : 20, given);
  free(order);
  if (!summary) return;
  int errors = 0;
  for (int i = 0; i < v->n; i++) {
    const char *err = str_of(v->idx[i], "error");
    if (!err || state_of(v->idx[i]) != 4) continue;
    if (!errors++) printf("\nerrors:\n");
    printf("  %s: %s\n", str_of(v->idx[i], "id"), err);
  }
  if (f->best >= 0) {
    cJSON *t = v->idx[f->best];
    char *cfg = tl_json_print(cJSON_GetObjectItemCaseSensitive(t, "config"));
    printf("\nBest trial %s (%s): %s=%.6g after %.0f iterations\n  config %s\n  files  %s/%s\n",
           str_of(t, "id"), str_of(t, "status"), v->metric, f->best_value,
           num_of(t, "iterations", 0), cfg, v->dir, str_of(t, "dir") ? str_of(t, "dir") : "");
    const char *ck = str_of(t, "checkpoint");
    if (ck) printf("  checkpoint %s/%s\n", v->dir, ck);
    free(cfg);
  }
}

/* The --json document (docs/usage.md, "tunelua status and summary"). */
static void print_json(view *v, facts *f, int summary) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "dir", v->dir);
  const char *name = str_of(v->doc, "name");
  cJSON_AddItemToObject(o, "name", name ? cJSON_CreateString(name) : cJSON_CreateNull());
  cJSON_AddItemToObject(o, "metric",
                        v->metric ? cJSON_CreateString(v->metric) : cJSON_CreateNull());
  cJSON_AddItemToObject(
      o, "mode", v->mode ? cJSON_CreateString(v->mode < 0 ? "min" : "max") : cJSON_CreateNull());
  const cJSON *seed = cJSON_GetObjectItemCaseSensitive(v->doc, "seed");
  cJSON_AddItemToObject(
      o, "seed", cJSON_IsNumber(seed) ? cJSON_CreateNumber(seed->valuedouble) : cJSON_CreateNull());
  cJSON_AddStringToObject(o, "status", f->status);
  cJSON *eng = cJSON_AddObjectToObject(o, "engine");
  cJSON_AddStringToObject(eng, "state", f->engine);
  cJSON_AddItemToObject(eng, "pid",
                        f->pid ? cJSON_CreateNumber((double)f->pid) : cJSON_CreateNull());
  cJSON_AddNumberToObject(o, "elapsed_s", floor(f->elapsed * 1000) / 1000);
  cJSON_AddItemToObject(
      o, "summary_age_s",
      f->age >= 0 ? cJSON_CreateNumber(floor(f->age * 1000) / 1000) : cJSON_CreateNull());
  cJSON *counts = cJSON_AddObjectToObject(o, "counts");
  for (int s = 0; s < 5; s++) cJSON_AddNumberToObject(counts, state_names[s], f->counts[s]);
  cJSON_AddNumberToObject(o, "trials_total", v->n);
  cJSON_AddNumberToObject(o, "results", f->results);
  if (f->best >= 0) {
    cJSON *t = v->idx[f->best];
    cJSON_AddStringToObject(o, "best_trial", str_of(t, "id"));
    cJSON *best = cJSON_AddObjectToObject(o, "best");
    cJSON_AddStringToObject(best, "trial", str_of(t, "id"));
    cJSON_AddNumberToObject(best, "value", f->best_value);
    cJSON_AddNumberToObject(best, "iteration", num_of(t, "iterations", 0));
    cJSON_AddItemToObject(best, "config",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t, "config"), 1));
  } else {
    cJSON_AddNullToObject(o, "best_trial");
    cJSON_AddNullToObject(o, "best");
  }
  cJSON **order = tl_xmalloc((size_t)(v->n ? v->n : 1) * sizeof *order);
  memcpy(order, v->idx, (size_t)v->n * sizeof *order);
  sort_view = v;
  if (summary) qsort(order, (size_t)v->n, sizeof *order, by_metric);
  cJSON *arr = cJSON_AddArrayToObject(o, "trials");
  static const char *common[] = {"id", "status", "iterations", "failures", "config", "error"};
  static const char *more[] = {"last_result", "best_result", "checkpoint", "dir"};
  for (int i = 0; i < v->n; i++) {
    cJSON *t = order[i], *out = cJSON_CreateObject();
    for (int k = 0; k < 6; k++) {
      const cJSON *x = cJSON_GetObjectItemCaseSensitive(t, common[k]);
      cJSON_AddItemToObject(out, common[k], x ? cJSON_Duplicate(x, 1) : cJSON_CreateNull());
      if (k == 3) {
        double m;
        cJSON_AddItemToObject(out, "metric",
                              metric_of(v, cJSON_GetObjectItemCaseSensitive(t, "last_result"), &m)
                                  ? cJSON_CreateNumber(m)
                                  : cJSON_CreateNull());
      }
    }
    for (int k = 0; summary && k < 4; k++) {
      const cJSON *x = cJSON_GetObjectItemCaseSensitive(t, more[k]);
      cJSON_AddItemToObject(out, more[k], x ? cJSON_Duplicate(x, 1) : cJSON_CreateNull());
    }
    cJSON_AddItemToArray(arr, out);
  }
  free(order);
  char *s = tl_json_print(o);
  puts(s);
  free(s);
  cJSON_Delete(o);
}

int tl_status_main(int argc, char **argv, int summary) {
  const char *cmd = summary ? "summary" : "status", *dir = NULL;
  int json = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = 1;
    else if (strncmp(argv[i], "--", 2) == 0 || dir) {
      fprintf(stderr, "tunelua %s: unexpected argument %s (usage: tunelua %s DIR [--json])\n", cmd,
              argv[i], cmd);
      return TL_EXIT_USAGE;
    } else
      dir = argv[i];
  }
  if (!dir) {
    fprintf(stderr, "tunelua %s: which experiment? (usage: tunelua %s DIR [--json])\n", cmd, cmd);
    return TL_EXIT_USAGE;
  }
  view v;
  int rc = load(&v, cmd, dir);
  if (rc != 0) return rc;
  facts f;
  gather(&v, &f);
  if (json)
    print_json(&v, &f, summary);
  else
    print_text(&v, &f, summary, dir);
  view_free(&v);
  fflush(stdout);
  return 0;
}
