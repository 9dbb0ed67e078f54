#include "trial.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/stat.h>

#include "console.h"
#include "exec_local.h"
#include "exec_sim.h"
#include "exec_slurm.h"
#include "proto.h"
#include "resources.h"
#include "script.h"
#include "tfevents.h"

static const char *status_names[] = {"PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"};
const char *tl_status_name(tl_status s) { return status_names[s]; }

/* ---- spare trial directories ----
 * A trial's directory and log files are an inode each: microseconds on most file systems,
 * but up to a millisecond each on an ext4 without a journal that has freed many files in the
 * last minutes (fs/ext4/ialloc.c, recently_deleted, skips each of them), and a new trial
 * waited for them between the end of one trial and the start of the next. So directories
 * for the next trials are made ahead on the thread pool, each with empty stdout.log,
 * stderr.log, result.jsonl and progress.csv, and a trial takes one with a rename(2). As many
 * are kept as trials have run at once (trials started together end together), at most
 * TL_SPARES; a trial added when none is ready makes its own, as before. Spare N is
 * trials/.spare-N/next: made in a directory of its own, since a mkdir holds its parent's lock
 * while it looks for a free inode, and the rename into trials/ must not wait for that. */
typedef struct tl_spare {
  uv_work_t work;
  tl_engine *e; /* NULL once dropped: removed when the job is done */
  char *parent, *path;
  int state; /* the loop's: MAKING until spare_after */
  int made;  /* the worker's: 1 made, 0 not */
} tl_spare;
enum { SPARE_MAKING, SPARE_READY, SPARE_FAILED };
static const char *const spare_files[] = {"stdout.log", "stderr.log", "result.jsonl",
                                          "progress.csv"};
#define SPARE_NFILES (int)(sizeof spare_files / sizeof *spare_files)

static void spare_work(uv_work_t *w) {
  tl_spare *s = w->data;
  /* EEXIST: the parent stays between spares; either may be left by a killed run */
  int ok = (mkdir(s->parent, 0755) == 0 || errno == EEXIST) &&
           (mkdir(s->path, 0755) == 0 || errno == EEXIST);
  for (int i = 0; ok && i < SPARE_NFILES; i++) {
    char *p = tl_strfmt("%s/%s", s->path, spare_files[i]);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    free(p);
    if (fd < 0) ok = 0;
    else close(fd);
  }
  s->made = ok;
}

static void spare_free(tl_spare *s) {
  free(s->parent);
  free(s->path);
  free(s);
}

static void spare_remove(tl_spare *s) {
  for (int i = 0; i < SPARE_NFILES; i++) {
    char *p = tl_strfmt("%s/%s", s->path, spare_files[i]);
    unlink(p);
    free(p);
  }
  rmdir(s->path);
  rmdir(s->parent);
  spare_free(s);
}

static void spare_after(uv_work_t *w, int status) {
  tl_spare *s = w->data;
  s->state = status == 0 && s->made ? SPARE_READY : SPARE_FAILED;
  if (!s->e) spare_remove(s);
  /* a failed one keeps its place, unused, so that it is not tried again */
}

static tl_spare *spare_new(tl_engine *e, int i) {
  tl_spare *s = tl_xcalloc(1, sizeof *s);
  s->e = e;
  s->parent = tl_strfmt("%s/trials/.spare-%d", e->dir, i);
  s->path = tl_strfmt("%s/next", s->parent);
  s->work.data = s;
  return s;
}

void tl_trial_spare_make(tl_engine *e) {
  if (e->simulate || e->finished) return;
  if (e->spares_want < 1) e->spares_want = 1;
  for (int i = 0; i < e->spares_want; i++) {
    if (e->spares[i]) continue;
    tl_spare *s = spare_new(e, i);
    s->state = SPARE_MAKING;
    e->spares[i] = s;
    if (uv_queue_work(e->loop, &s->work, spare_work, spare_after) != 0) s->state = SPARE_FAILED;
  }
}

void tl_trial_spare_drop(tl_engine *e) {
  for (int i = 0; i < TL_SPARES; i++) {
    tl_spare *s = e->spares[i];
    e->spares[i] = NULL;
    if (s && s->state == SPARE_MAKING) s->e = NULL; /* spare_after removes it */
    else spare_remove(s ? s : spare_new(e, i)); /* none: one a killed run left, if any */
  }
}

/* Makes dir a ready spare: 1, or 0 when none is ready (the caller makes dir itself). */
static int spare_take(tl_engine *e, const char *dir) {
  if (!e->kick_ready || e->simulate) return 0; /* replaying a journal: the dirs exist */
  int want = e->running + 1 < TL_SPARES ? e->running + 1 : TL_SPARES, took = 0;
  if (want > e->spares_want) e->spares_want = want;
  for (int i = 0; i < TL_SPARES && !took; i++) {
    tl_spare *s = e->spares[i];
    if (!s || s->state != SPARE_READY) continue;
    if (rename(s->path, dir) == 0) {
      took = 1;
    } else if (errno == EEXIST || errno == ENOTEMPTY) {
      break; /* dir is there and not empty (a crash left it): no spare can go there */
    } else {
      spare_remove(s); /* gone or broken under us: its slot is made again below */
      e->spares[i] = NULL;
      continue;
    }
    spare_free(s);
    e->spares[i] = NULL;
  }
  tl_trial_spare_make(e); /* the next ones */
  return took;
}

tl_trial *tl_trial_add(tl_engine *e, char *id, cJSON *config) {
  if (e->ntrials == e->cap_trials) {
    e->cap_trials = e->cap_trials ? e->cap_trials * 2 : 64;
    e->trials = tl_xrealloc(e->trials, (size_t)e->cap_trials * sizeof *e->trials);
  }
  tl_trial *t = tl_xcalloc(1, sizeof *t);
  t->index = e->ntrials;
  t->id = id;
  t->config = config;
  t->status = TL_PENDING;
  tl_out_init(&t->out_result);
  tl_out_init(&t->out_csv);
  tl_out_init(&t->out_tfevents);
  t->exploit_from = -1;
  t->dir = tl_strfmt("%s/trials/%s", e->dir, id);
  if (!spare_take(e, t->dir)) tl_mkdirs(t->dir);
  e->trials[e->ntrials++] = t;
  e->counts[TL_PENDING]++;
  tl_buf *b = tl_journal_begin(&e->journal, "trial_added", id);
  char *cfg = tl_json_print(config);
  tl_buf_adds(b, ",\"config\":");
  tl_buf_adds(b, cfg);
  free(cfg);
  tl_journal_end(&e->journal);
  e->summary_dirty = 1;
  return t;
}

tl_trial *tl_trial_find(tl_engine *e, const char *id) {
  char *end;
  errno = 0;
  long i = strtol(id, &end, 10);
  if (*id && !*end && !errno && i >= 0 && i < e->ntrials && strcmp(e->trials[i]->id, id) == 0)
    return e->trials[i];
  for (int k = 0; k < e->ntrials; k++)
    if (strcmp(e->trials[k]->id, id) == 0) return e->trials[k];
  return NULL;
}

void tl_trial_free(tl_trial *t) {
  free(t->id);
  free(t->dir);
  cJSON_Delete(t->config);
  if (t->best_result != t->last_result) cJSON_Delete(t->best_result);
  cJSON_Delete(t->last_result);
  free(t->results_text);
  tl_out_close(&t->out_result);
  tl_out_close(&t->out_csv);
  free(t->error);
  free(t->note);
  free(t->fail);
  tl_slurm_trial_free(t);
  tl_resources_alloc_free(t->alloc);
  free(t->csv_cols);
  for (int i = 0; i < t->nckpts; i++) free(t->ckpts[i].path);
  free(t->ckpts);
  free(t);
}

static int metric_of(tl_engine *e, const cJSON *r, double *v);

/* A TERMINATED trial keeps its config, last and best results as JSON text (bench B6: as cJSON
 * each value is a node of 64 bytes, and a finished trial is seldom asked):
 * "<last>\0<best>\0<config>\0", best empty when it is the last result itself, "null" for
 * NULL; metric_done is the last result's metric (NaN none), for tl_trial_metric.
 * tl_trial_last and tl_trial_config bring the objects back. */
static cJSON *parse_or_null(const char *text, int *ok) {
  if (strcmp(text, "null") == 0) return NULL;
  cJSON *v = cJSON_Parse(text);
  if (!v) *ok = 0;
  return v;
}

static void results_compact(tl_engine *e, tl_trial *t) {
  if (t->results_text) return;
  double v;
  t->metric_done = metric_of(e, t->last_result, &v) ? v : NAN;
  tl_buf b;
  tl_buf_init(&b);
  tl_json_write(&b, t->last_result); /* null when NULL */
  tl_buf_addc(&b, '\0');
  size_t best_at = b.len;
  if (t->best_result != t->last_result) tl_json_write(&b, t->best_result);
  tl_buf_addc(&b, '\0');
  size_t config_at = b.len;
  tl_json_write(&b, t->config);
  tl_buf_addc(&b, '\0');
  int ok = 1; /* the text reads back (it always does: kept as objects otherwise) */
  cJSON_Delete(parse_or_null(b.data, &ok));
  if (b.data[best_at]) cJSON_Delete(parse_or_null(b.data + best_at, &ok));
  cJSON_Delete(parse_or_null(b.data + config_at, &ok));
  if (!ok) {
    tl_buf_free(&b);
    return;
  }
  t->results_text = tl_xrealloc(b.data, b.len);
  if (t->best_result != t->last_result) cJSON_Delete(t->best_result);
  cJSON_Delete(t->last_result);
  cJSON_Delete(t->config);
  t->last_result = t->best_result = t->config = NULL;
}

cJSON *tl_trial_last(tl_trial *t) {
  if (!t->results_text) return t->last_result;
  const char *last = t->results_text, *best = last + strlen(last) + 1;
  const char *config = best + strlen(best) + 1;
  int ok = 1;
  t->last_result = parse_or_null(last, &ok);
  t->best_result = *best ? parse_or_null(best, &ok) : t->last_result;
  t->config = parse_or_null(config, &ok);
  free(t->results_text);
  t->results_text = NULL;
  return t->last_result;
}

cJSON *tl_trial_config(tl_trial *t) {
  tl_trial_last(t);
  return t->config;
}

void tl_trial_set_status(tl_engine *e, tl_trial *t, tl_status s, const char *reason) {
  if (s == TL_TERMINATED) results_compact(e, t);
  else tl_trial_last(t);
  e->counts[t->status]--;
  e->counts[s]++;
  t->status = s;
  tl_buf *b = tl_journal_begin(&e->journal, "status", t->id);
  tl_buf_adds(b, ",\"status\":");
  tl_buf_add_json_str(b, tl_status_name(s));
  tl_buf_printf(b, ",\"iteration\":%ld,\"failures\":%d", t->iterations, t->failures);
  if (reason) {
    tl_buf_adds(b, ",\"reason\":");
    tl_buf_add_json_str(b, reason);
  }
  tl_journal_end(&e->journal);
  e->summary_dirty = 1;
  char *err = NULL;
  if (tl_script_status(e->script, t->index, tl_status_name(s), t->iterations, &err) != 0)
    tl_engine_script_error(e, err);
}

static char *trial_path(tl_trial *t, const char *name) { return tl_strfmt("%s/%s", t->dir, name); }

static void csv_rewrite(tl_trial *t);

/* After a crash, result.jsonl may hold a result the journal never got (the engine died
 * between the two writes): keep the lines up to the trial's last journaled iteration, and
 * rebuild progress.csv from them. */
void tl_trial_files_repair(tl_trial *t) {
  char *p = trial_path(t, "result.jsonl");
  size_t n;
  char *all = tl_read_file(p, &n);
  if (all) {
    tl_buf keep;
    tl_buf_init(&keep);
    for (char *line = all, *nl; *line; line = nl + 1) {
      nl = strchr(line, '\n');
      if (!nl) break;
      cJSON *r = cJSON_ParseWithLength(line, (size_t)(nl - line));
      const cJSON *it = cJSON_GetObjectItemCaseSensitive(r, "training_iteration");
      if (cJSON_IsNumber(it) && it->valuedouble <= (double)t->iterations)
        tl_buf_add(&keep, line, (size_t)(nl - line + 1));
      cJSON_Delete(r);
    }
    if (keep.len != n) tl_write_file_atomic(p, keep.data ? keep.data : "", keep.len);
    tl_buf_free(&keep);
    free(all);
  }
  free(p);
  free(t->csv_cols);
  t->csv_cols = NULL, t->ncsv_cols = 0;
  csv_rewrite(t);
}

static int open_append(tl_trial *t, const char *name) {
  char *p = trial_path(t, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  free(p);
  return fd;
}

void tl_trial_note(tl_engine *e, tl_trial *t, const char *note) {
  (void)e;
  free(t->note);
  t->note = tl_strdup(note);
  int fd = open_append(t, "stderr.log");
  if (fd >= 0) {
    char *line = tl_strfmt("[tunelua] %s\n", note);
    tl_write_all(fd, line, strlen(line));
    free(line);
    close(fd);
  }
}

/* Ends a trial that cannot run at all (no process was started). */
static void fail_now(tl_engine *e, tl_trial *t, const char *why) {
  tl_trial_note(e, t, why);
  free(t->error);
  t->error = tl_strdup(why);
  t->failures++;
  tl_trial_set_status(e, t, TL_ERROR, why);
  tl_console_message(e, "trial %s ERROR: %s", t->id, why);
  char *err = NULL;
  if (tl_script_complete(e->script, t->index, 0, &err) != 0) tl_engine_script_error(e, err);
}

const char *tl_trial_latest_checkpoint(const tl_trial *t) {
  return t->nckpts ? t->ckpts[t->nckpts - 1].path : NULL;
}

/* A tmp- directory under checkpoints/ is one a trainer was still writing when it ended:
 * never restored, removed before the trial runs again. */
static void remove_unrecorded(tl_trial *t) {
  char *dir = tl_strfmt("%s/checkpoints", t->dir);
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (strncmp(de->d_name, "tmp-", 4) != 0) continue;
    char *p = tl_strfmt("%s/%s", dir, de->d_name);
    tl_remove_tree(p);
    free(p);
  }
  if (d) closedir(d);
  free(dir);
}

static int metric_of(tl_engine *e, const cJSON *r, double *v);
static int better(tl_engine *e, double a, double b);

/* Keeps checkpoint.keep checkpoints: the newest ones; or, with checkpoint.score, the best
 * ones by that metric plus the newest, which a restart restores. */
static void retain(tl_engine *e, tl_trial *t) {
  int keep = e->ckpt_keep + (e->ckpt_score ? 1 : 0);
  while (e->ckpt_keep > 0 && t->nckpts > keep) {
    int drop = 0; /* the oldest; with a score, the worst of all but the newest */
    if (e->ckpt_score) {
      for (int i = 1; i < t->nckpts - 1; i++) {
        tl_ckpt *a = &t->ckpts[i], *w = &t->ckpts[drop];
        int worse = !a->has_score ? w->has_score
                    : !w->has_score ? 0
                    : e->ckpt_score_max ? a->score < w->score : a->score > w->score;
        if (worse) drop = i;
      }
    }
    tl_buf *b = tl_journal_begin(&e->journal, "checkpoint_deleted", t->id);
    tl_buf_adds(b, ",\"path\":");
    tl_buf_add_json_str(b, t->ckpts[drop].path);
    tl_journal_end(&e->journal);
    tl_remove_tree(t->ckpts[drop].path);
    free(t->ckpts[drop].path);
    memmove(&t->ckpts[drop], &t->ckpts[drop + 1], (size_t)(t->nckpts - drop - 1) * sizeof *t->ckpts);
    t->nckpts--;
  }
}

/* Adds a checkpoint directory that is already in its final place. */
void tl_trial_add_checkpoint(tl_engine *e, tl_trial *t, char *path, const cJSON *result) {
  t->ckpts = tl_xrealloc(t->ckpts, (size_t)(t->nckpts + 1) * sizeof *t->ckpts);
  tl_ckpt *c = &t->ckpts[t->nckpts++];
  memset(c, 0, sizeof *c);
  c->path = path;
  c->iteration = t->iterations;
  const cJSON *s = e->ckpt_score && result ? cJSON_GetObjectItemCaseSensitive(result, e->ckpt_score) : NULL;
  if (cJSON_IsNumber(s) && isfinite(s->valuedouble)) c->score = s->valuedouble, c->has_score = 1;
  tl_buf *b = tl_journal_begin(&e->journal, "checkpoint", t->id);
  tl_buf_adds(b, ",\"path\":");
  tl_buf_add_json_str(b, path);
  tl_buf_printf(b, ",\"iteration\":%ld", t->iterations);
  tl_journal_end(&e->journal);
  if (!e->journal.mute) retain(e, t); /* a replay reads the deletions from the journal */
  e->summary_dirty = 1;
  char *err = NULL;
  if (tl_script_checkpoint(e->script, t->index, path, t->iterations, &err) != 0)
    tl_engine_script_error(e, err);
}

/* A free name checkpoints/checkpoint_<iteration>[-n][suffix] in the trial's directory. */
static char *checkpoint_name(tl_trial *t, const char *suffix) {
  char *base = tl_strfmt("%s/checkpoints/checkpoint_%06ld%s", t->dir, t->iterations, suffix);
  char *name = tl_strdup(base);
  for (int n = 2; access(name, F_OK) == 0; n++) {
    free(name);
    name = tl_strfmt("%s-%d", base, n);
  }
  free(base);
  return name;
}

int tl_trial_checkpoint(tl_engine *e, tl_trial *t, const char *path, char **final, char **err) {
  char *real = realpath(path, NULL), *home = realpath(t->dir, NULL);
  struct stat st;
  int rc = -1;
  if (!real) {
    *err = tl_strfmt("record_checkpoint: %s does not exist", path);
  } else if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    *err = tl_strfmt("record_checkpoint: %s is not a directory", path);
  } else if (!home || strncmp(real, home, strlen(home)) != 0 || real[strlen(home)] != '/') {
    *err = tl_strfmt("record_checkpoint: %s is outside the trial's directory %s", path, t->dir);
  } else {
    int known = 0;
    for (int i = 0; i < t->nckpts; i++) known |= strcmp(t->ckpts[i].path, real) == 0;
    char *dir = tl_strfmt("%s/checkpoints", t->dir);
    tl_mkdirs(dir);
    free(dir);
    char *name = checkpoint_name(t, "");
    if (known) {
      *err = tl_strfmt("record_checkpoint: %s is already recorded", path);
      free(name);
    } else if (rename(real, name) != 0) {
      *err = tl_strfmt("record_checkpoint: cannot move %s to %s: %s", path, name, strerror(errno));
      free(name);
    } else {
      tl_trial_add_checkpoint(e, t, name, tl_trial_last(t));
      *final = tl_strdup(name);
      rc = 0;
    }
  }
  free(real), free(home);
  return rc;
}

/* An exploit decision: the trial takes another's newest checkpoint and a new config. The live
 * process is reset in place when it can take it (reuse), else it ends and restarts. */
static const char *exploit(tl_engine *e, tl_trial *t, int source) {
  tl_trial *src = e->trials[source];
  char *id = NULL, *err = NULL;
  cJSON *cfg = NULL;
  if (tl_script_trial(e->script, t->index, &id, &cfg, &err) != 0) {
    tl_engine_script_error(e, err);
    return "pause";
  }
  free(id);
  cJSON_Delete(tl_trial_config(t));
  t->config = cfg;
  t->exploit_from = source;
  const char *from = e->simulate ? NULL : tl_trial_latest_checkpoint(src);
  char *copy = NULL;
  if (e->simulate) {
    /* the simulated trainer's state lives in Lua; the runner copied it */
  } else if (from) {
    char *suffix = tl_strfmt("-from-%s", src->id);
    copy = checkpoint_name(t, suffix);
    free(suffix);
    char *dir = tl_strfmt("%s/checkpoints", t->dir);
    tl_mkdirs(dir);
    free(dir);
    int rc = tl_copy_tree(from, copy, 0);
    if (rc != 0) {
      tl_console_message(e, "trial %s: cannot copy trial %s's checkpoint %s: %s", t->id, src->id,
                         from, strerror(-rc));
      tl_remove_tree(copy);
      free(copy);
      copy = NULL;
    }
  } else {
    tl_console_message(e, "trial %s exploits trial %s, which has no checkpoint: it restarts from "
                          "scratch with the new config (set checkpoint.every)", t->id, src->id);
  }
  tl_buf *b = tl_journal_begin(&e->journal, "exploit", t->id);
  tl_buf_adds(b, ",\"from\":");
  tl_buf_add_json_str(b, src->id);
  char *c = tl_json_print(cfg);
  tl_buf_adds(b, ",\"config\":");
  tl_buf_adds(b, c);
  free(c);
  tl_journal_end(&e->journal);
  if (copy) tl_trial_add_checkpoint(e, t, copy, tl_trial_last(src));
  e->summary_dirty = 1;
  if (e->simulate) return "reset"; /* a simulated trainer always takes a reset in place */
  if (t->conn && t->conn->reuse) {
    t->ask = TL_ASK_RESET;
    return "reset";
  }
  tl_trial_ask(e, t, TL_ASK_RESTART, e->stop_grace_s);
  return "pause";
}

/* What the trial asks for (trainer.resources on its config) is placed first: a request that
 * can never be met fails the trial at once with what it asked and what exists; one that does
 * not fit now leaves it as it is (returns 1) until a running trial gives resources back. */
int tl_trial_start(tl_engine *e, tl_trial *t) {
  tl_request rq;
  char *why = NULL;
  int rc = tl_script_resources(e->script, t->index, &rq, &why);
  if (rc < 0) {
    tl_engine_script_error(e, why);
    return 1;
  }
  if (rc == 0 && e->slurm) rc = tl_slurm_place(e, t, &rq) > 0 ? 0 : 2;
  else if (rc == 0) rc = tl_resources_place(e, t, &rq, &why) > 0 ? 0 : why ? 1 : 2;
  tl_request_free(&rq);
  if (rc == 2) return 1;
  if (rc == 1) {
    fail_now(e, t, why);
    free(why);
    return 0;
  }
  const char *restore = tl_trial_latest_checkpoint(t);
  if (restore && access(restore, F_OK) != 0) {
    char *why = tl_strfmt("its checkpoint %s has vanished; not starting it over silently", restore);
    tl_resources_release(e, t);
    fail_now(e, t, why);
    free(why);
    return 0;
  }
  remove_unrecorded(t);
  t->ask = TL_ASK_NONE;
  t->kill_stage = 0;
  t->exited = 0;
  t->said_done = 0;
  free(t->fail);
  t->fail = NULL;
  free(t->note);
  t->note = NULL;
  char *err = NULL;
  if ((e->simulate ? tl_sim_start(e, t, &err) : tl_exec_spawn(e, t, &err)) != 0) {
    tl_resources_release(e, t);
    fail_now(e, t, err);
    free(err);
    return 0;
  }
  e->running++;
  t->run_started = t->last_report = tl_engine_now(e);
  /* journaled at once: its time is the spawn's, not the log files' below */
  tl_buf *b = tl_journal_begin(&e->journal, "started", t->id);
  tl_buf_printf(b, ",\"pid\":%d", t->pid);
  tl_resources_journal(b, t);
  if (e->simulate) {
    tl_buf_adds(b, ",\"vt\":");
    tl_buf_add_num(b, e->vclock);
  }
  tl_journal_end(&e->journal);
  /* after the spawn, and on the thread pool: creating files (an inode each) is slow on a
   * busy file system, and neither the trainer's hello nor the other trials wait for it */
  tl_out *outs[3] = {&t->out_result, &t->out_csv, &t->out_tfevents};
  char *paths[3] = {trial_path(t, "result.jsonl"), trial_path(t, "progress.csv"), NULL};
  tl_buf heads[3];
  for (int i = 0; i < 3; i++) tl_buf_init(&heads[i]);
  if (e->tensorboard) {
    paths[2] = tl_tfevents_path(t->dir);
    tl_tfevents_header(&heads[2], tl_wallclock());
  }
  /* the simulator has no trainer to wait for: the thread pool would only add a hop */
  tl_out_open_bg(e->simulate ? NULL : e->loop, e->tensorboard ? 3 : 2, outs, paths, heads);
  for (int i = 0; i < 3; i++) tl_buf_free(&heads[i]);
  tl_trial_set_status(e, t, TL_RUNNING, NULL);
  return 0;
}

/* The best result is kept without a copy: it is the last result itself while that is the
 * best, and the previous last result is kept (instead of freed) when a worse one replaces it. */
void tl_trial_set_last(tl_engine *e, tl_trial *t, cJSON *result) {
  double v, bv;
  cJSON *old = tl_trial_last(t);
  if (metric_of(e, result, &v) && (!metric_of(e, t->best_result, &bv) || better(e, v, bv))) {
    if (t->best_result != old) cJSON_Delete(t->best_result);
    cJSON_Delete(old);
    t->best_result = result;
  } else if (t->best_result != old) {
    cJSON_Delete(old);
  }
  t->last_result = result;
}

void tl_json_flatten(const cJSON *obj, tl_buf *prefix, tl_flat_fn fn, void *ud) {
  size_t keep = prefix->len;
  for (const cJSON *c = obj->child; c; c = c->next) {
    prefix->len = keep;
    if (keep) tl_buf_addc(prefix, '/');
    tl_buf_adds(prefix, c->string ? c->string : "");
    if (cJSON_IsObject(c) && c->child)
      tl_json_flatten(c, prefix, fn, ud);
    else
      fn(ud, prefix->data, c);
  }
  prefix->len = keep;
  if (prefix->data) prefix->data[keep] = 0;
}

/* progress.csv: the header is the union of the keys seen so far. A result with a new key
 * rewrites the file from result.jsonl (rare); otherwise one row is appended. */
typedef struct {
  tl_trial *t;
  const char **keys;
  const cJSON **vals;
  int n, cap;
  int fresh;
} flat_row;

static void collect(void *ud, const char *key, const cJSON *v) {
  flat_row *r = ud;
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 32;
    r->keys = tl_xrealloc(r->keys, (size_t)r->cap * sizeof *r->keys);
    r->vals = tl_xrealloc(r->vals, (size_t)r->cap * sizeof *r->vals);
  }
  r->keys[r->n] = tl_strdup(key);
  r->vals[r->n++] = v;
  tl_trial *t = r->t;
  int known = 0;
  const char *col = t->csv_cols;
  for (int i = 0; i < t->ncsv_cols && !known; i++, col += strlen(col) + 1)
    known = strcmp(col, key) == 0;
  if (!known) { /* col is the end of the names */
    size_t used = t->ncsv_cols ? (size_t)(col - t->csv_cols) : 0, n = strlen(key) + 1;
    t->csv_cols = tl_xrealloc(t->csv_cols, used + n);
    memcpy(t->csv_cols + used, key, n);
    t->ncsv_cols++;
    r->fresh = 1;
  }
}

static void csv_cell(tl_buf *b, const cJSON *v) {
  if (cJSON_IsNumber(v)) {
    tl_buf_add_num(b, v->valuedouble);
  } else if (cJSON_IsBool(v)) {
    tl_buf_adds(b, cJSON_IsTrue(v) ? "True" : "False");
  } else if (cJSON_IsNull(v) || !v) {
  } else {
    char *owned = cJSON_IsString(v) ? NULL : tl_json_print(v);
    const char *s = owned ? owned : v->valuestring;
    if (strpbrk(s, ",\"\n\r")) {
      tl_buf_addc(b, '"');
      for (const char *p = s; *p; p++) {
        if (*p == '"') tl_buf_addc(b, '"');
        tl_buf_addc(b, *p);
      }
      tl_buf_addc(b, '"');
    } else {
      tl_buf_adds(b, s);
    }
    free(owned);
  }
}

static void csv_row(tl_buf *b, tl_trial *t, flat_row *r) {
  const char *col = t->csv_cols;
  for (int i = 0; i < t->ncsv_cols; i++, col += strlen(col) + 1) {
    if (i) tl_buf_addc(b, ',');
    for (int k = 0; k < r->n; k++)
      if (strcmp(r->keys[k], col) == 0) {
        csv_cell(b, r->vals[k]);
        break;
      }
  }
  tl_buf_addc(b, '\n');
}

static void row_free(flat_row *r) {
  for (int i = 0; i < r->n; i++) free((void *)r->keys[i]);
  r->n = 0;
}

static void csv_header(tl_buf *b, tl_trial *t) {
  const char *col = t->csv_cols;
  for (int i = 0; i < t->ncsv_cols; i++, col += strlen(col) + 1) {
    if (i) tl_buf_addc(b, ',');
    tl_buf_adds(b, col);
  }
  tl_buf_addc(b, '\n');
}

static void csv_rewrite(tl_trial *t) {
  tl_out_flush(&t->out_result);
  char *p = trial_path(t, "result.jsonl");
  char *all = tl_read_file(p, NULL);
  free(p);
  if (!all) return;
  tl_buf out, prefix;
  tl_buf_init(&out), tl_buf_init(&prefix);
  csv_header(&out, t);
  flat_row r = {.t = t};
  for (char *line = all, *nl; *line; line = nl + 1) {
    nl = strchr(line, '\n');
    if (!nl) break;
    cJSON *obj = cJSON_ParseWithLength(line, (size_t)(nl - line));
    if (obj) {
      tl_json_flatten(obj, &prefix, collect, &r);
      csv_row(&out, t, &r);
      row_free(&r);
      cJSON_Delete(obj);
    }
  }
  p = trial_path(t, "progress.csv");
  tl_out_discard(&t->out_csv); /* its rows are in the rewrite */
  tl_write_file_atomic(p, out.data, out.len);
  if (tl_out_is_open(&t->out_csv)) tl_out_open(&t->out_csv, p); /* the new file */
  free(p);
  free(r.keys), free(r.vals), free(all);
  tl_buf_free(&out), tl_buf_free(&prefix);
}

/* One progress.csv row. The common case, a flat result whose keys are the header in order,
 * is written straight from the result; anything else goes through the flattened row. */
static void write_csv(tl_engine *e, tl_trial *t, const cJSON *result) {
  static tl_buf row, prefix; /* reused across results: the loop is single-threaded */
  (void)e;
  tl_buf_reset(&row);
  int i = 0;
  const cJSON *c = result->child;
  const char *col = t->csv_cols;
  for (; c && i < t->ncsv_cols; c = c->next, i++, col += strlen(col) + 1)
    if ((cJSON_IsObject(c) && c->child) || !c->string || strcmp(c->string, col) != 0) break;
  if (!c && i == t->ncsv_cols) {
    for (c = result->child; c; c = c->next) {
      if (c != result->child) tl_buf_addc(&row, ',');
      csv_cell(&row, c);
    }
    tl_buf_addc(&row, '\n');
    tl_out_add(&t->out_csv, row.data, row.len);
    return;
  }
  flat_row r = {.t = t};
  int had_cols = t->ncsv_cols;
  tl_buf_reset(&prefix);
  tl_json_flatten(result, &prefix, collect, &r);
  /* the file is empty when this is the trial's first result (its files follow the journal,
   * which had none), which needs no fd: the file may still be being created */
  int first = r.fresh && had_cols == 0 && t->out_csv.buf.len == 0 && tl_out_is_open(&t->out_csv);
  struct stat st;
  if (first && t->iterations != 1)
    first = tl_out_fd(&t->out_csv) >= 0 && fstat(t->out_csv.fd, &st) == 0 && st.st_size == 0;
  if (first) {
    /* the file's first row (the usual reason for new keys): header and row, no rewrite */
    csv_header(&row, t);
    csv_row(&row, t, &r);
    tl_out_add(&t->out_csv, row.data, row.len);
  } else if (r.fresh) {
    csv_rewrite(t);
  } else {
    csv_row(&row, t, &r);
    tl_out_add(&t->out_csv, row.data, row.len);
  }
  row_free(&r);
  free(r.keys), free(r.vals);
}

/* events.out.tfevents: the result's scalars at step training_iteration, at its timestamp. */
static void write_tfevents(tl_trial *t, const cJSON *result) {
  static tl_buf rec; /* reused across results: the loop is single-threaded */
  if (!tl_out_is_open(&t->out_tfevents)) return;
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(result, "timestamp");
  tl_buf_reset(&rec);
  if (tl_tfevents_encode(&rec, result, t->iterations,
                         cJSON_IsNumber(ts) ? ts->valuedouble : tl_wallclock()))
    tl_out_add(&t->out_tfevents, rec.data, rec.len);
}

/* The engine's fields of a result, always last and in this order: any the trainer sent are
 * dropped first. The keys are constants (no copy). */
static const char *engine_fields[] = {"trial_id", "training_iteration", "time_this_iter_s",
                                      "time_total_s", "timestamp"};

static void drop_engine_fields(cJSON *obj) {
  for (cJSON *c = obj->child, *next; c; c = next) {
    next = c->next;
    if (!c->string || (c->string[0] != 't')) continue;
    for (size_t i = 0; i < sizeof engine_fields / sizeof *engine_fields; i++)
      if (strcmp(c->string, engine_fields[i]) == 0) {
        cJSON_Delete(cJSON_DetachItemViaPointer(obj, c));
        break;
      }
  }
}

static void add_const(cJSON *obj, int field, cJSON *v) {
  cJSON_AddItemToObjectCS(obj, engine_fields[field], v);
}

static int metric_of(tl_engine *e, const cJSON *r, double *v) {
  if (!e->metric || !r) return 0;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, e->metric);
  if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble)) return 0;
  *v = m->valuedouble;
  return 1;
}

static int better(tl_engine *e, double a, double b) { return e->mode < 0 ? a < b : a > b; }

int tl_trial_metric(tl_engine *e, const tl_trial *t, double *v) {
  if (!t->results_text) return metric_of(e, t->last_result, v);
  if (!isfinite(t->metric_done)) return 0;
  *v = t->metric_done;
  return 1;
}

int tl_trial_best(tl_engine *e, double *value) {
  int best = -1;
  double bv = 0, v;
  for (int i = 0; i < e->ntrials; i++)
    if (tl_trial_metric(e, e->trials[i], &v) && (best < 0 || better(e, v, bv))) best = i, bv = v;
  if (value) *value = bv;
  return best;
}

const char *tl_trial_report(tl_engine *e, tl_trial *t, cJSON *metrics, int *checkpoint) {
  double now = tl_engine_now(e);
  double dt = now - t->last_report;
  t->last_report = now;
  t->time_total += dt;
  t->iterations++;
  e->results++;
  drop_engine_fields(metrics);
  add_const(metrics, 0, cJSON_CreateString(t->id));
  add_const(metrics, 1, cJSON_CreateNumber((double)t->iterations));
  add_const(metrics, 2, cJSON_CreateNumber(dt));
  add_const(metrics, 3, cJSON_CreateNumber(t->time_total));
  add_const(metrics, 4, cJSON_CreateNumber(floor(tl_wallclock())));
  /* the result's text is printed once, into the journal line, and copied to result.jsonl */
  tl_buf *b = tl_journal_begin(&e->journal, "result", t->id);
  if (e->simulate) { /* the virtual instant, so that a resumed simulation keeps its order */
    tl_buf_adds(b, ",\"vt\":");
    tl_buf_add_num(b, e->vclock);
  }
  tl_buf_adds(b, ",\"result\":");
  size_t at = b->len;
  tl_json_write(b, metrics);
  tl_buf_addc(b, '\n');
  tl_out_add(&t->out_result, b->data + at, b->len - at);
  b->len--;
  tl_journal_end(&e->journal);
  write_csv(e, t, metrics);
  write_tfevents(t, metrics);
  tl_trial_set_last(e, t, metrics);
  e->summary_dirty = 1;
  const char *action = "continue";
  *checkpoint = 0;
  char *err = NULL;
  int source = -1;
  if (e->script_failed || e->interrupted) {
    action = "pause";
  } else if (tl_script_result(e->script, t->index, metrics, &action, checkpoint, &t->by_rule,
                              &source, &err) != 0) {
    tl_engine_script_error(e, err);
    action = "pause";
  }
  if (strcmp(action, "continue") == 0) {
    *checkpoint |= e->ckpt_every > 0 && t->iterations % e->ckpt_every == 0;
    return action;
  }
  b = tl_journal_begin(&e->journal, "decision", t->id);
  tl_buf_adds(b, ",\"action\":");
  tl_buf_add_json_str(b, action);
  tl_buf_adds(b, t->by_rule == 2 ? ",\"by\":\"budget\",\"iteration\":"
                 : t->by_rule   ? ",\"by\":\"stop\",\"iteration\":"
                                : ",\"by\":\"scheduler\",\"iteration\":");
  tl_buf_add_num(b, (double)t->iterations);
  tl_journal_end(&e->journal);
  if (strcmp(action, "exploit") == 0) return exploit(e, t, source);
  int stop = strcmp(action, "stop") == 0;
  /* a pause always keeps the trial's state; a stop when the experiment asks for it */
  *checkpoint = *checkpoint || !stop || e->ckpt_at_end;
  if (t->ask == TL_ASK_NONE)
    tl_trial_ask(e, t, stop ? TL_ASK_STOP : TL_ASK_PAUSE,
                 *checkpoint ? e->ckpt_timeout_s : e->stop_grace_s);
  return action;
}

/* Escalation for a trial asked to end: SIGTERM to its process group, then SIGKILL. */
static void on_kill_timer(uv_timer_t *timer) {
  tl_trial *t = timer->data;
  if (t->exited) return;
  tl_engine *e = timer->loop->data;
  if (t->kill_stage == 0) {
    t->kill_stage = 1;
    tl_exec_signal(t, SIGTERM);
    uv_timer_start(timer, on_kill_timer, (uint64_t)(e->stop_grace_s * 1000) + 1, 0);
  } else if (t->kill_stage == 1) {
    t->kill_stage = 2;
    tl_exec_signal(t, SIGKILL);
  }
}

static void on_timer_close(uv_handle_t *h) { free(h); }

static void ensure_timer(tl_engine *e, tl_trial *t) {
  if (t->kill_timer) return;
  t->kill_timer = tl_xmalloc(sizeof *t->kill_timer);
  uv_timer_init(e->loop, t->kill_timer);
  t->kill_timer->data = t;
}

void tl_trial_ask(tl_engine *e, tl_trial *t, tl_ask ask, double grace) {
  if (e->simulate && t->status == TL_RUNNING) { /* no process: the simulator ends it */
    if (t->ask == TL_ASK_NONE || ask == TL_ASK_STOP) t->ask = ask;
    return;
  }
  if (!t->proc || t->exited) return;
  if (t->ask == TL_ASK_NONE || ask == TL_ASK_STOP) t->ask = ask;
  ensure_timer(e, t);
  if (grace <= 0) {
    if (t->kill_stage == 0) on_kill_timer(t->kill_timer);
    return;
  }
  if (!uv_is_active((uv_handle_t *)t->kill_timer))
    uv_timer_start(t->kill_timer, on_kill_timer, (uint64_t)(grace * 1000) + 1, 0);
}

void tl_trial_fail(tl_engine *e, tl_trial *t, const char *why) {
  if (!t->fail) t->fail = tl_strdup(why);
  tl_trial_note(e, t, why);
  if (t->proc && !t->exited && t->kill_stage == 0) {
    ensure_timer(e, t);
    on_kill_timer(t->kill_timer);
  }
}

void tl_trial_finish(tl_engine *e, tl_trial *t) {
  if (t->kill_timer) {
    uv_close((uv_handle_t *)t->kill_timer, on_timer_close);
    t->kill_timer = NULL;
  }
  tl_out_close(&t->out_result);
  tl_out_close(&t->out_csv);
  tl_out_close(&t->out_tfevents);
  t->proc = NULL; /* the handle frees itself in its close callback */
  tl_resources_release(e, t);
  e->running--;
  char *reason = NULL;
  int ok = -1; /* 1 completed, 0 failed for good, -1 no completion (paused or retried) */
  if (t->ask == TL_ASK_STOP) {
    char *spent = t->by_rule == 2 ? tl_script_budget_spent(e->script) : NULL;
    tl_trial_set_status(e, t, TL_TERMINATED, spent       ? spent
                                             : t->by_rule ? "stop criterion met"
                                                          : "stopped by the scheduler");
    free(spent);
    ok = 1;
  } else if (t->ask == TL_ASK_PAUSE) {
    tl_trial_set_status(e, t, TL_PAUSED, e->interrupted ? "interrupted" : NULL);
  } else if ((t->ask == TL_ASK_RESTART || t->ask == TL_ASK_RESET) && !e->interrupted &&
             !e->script_failed) {
    char *r = tl_strfmt("exploit: restarts from trial %s's checkpoint with a new config",
                        t->exploit_from >= 0 ? e->trials[t->exploit_from]->id : "?");
    tl_trial_set_status(e, t, TL_PENDING, r);
    free(r);
  } else if (t->ask == TL_ASK_RESTART || t->ask == TL_ASK_RESET) {
    tl_trial_set_status(e, t, TL_PAUSED, "interrupted");
  } else if (t->lost && !t->fail) { /* slurm: its node died under it; not the trainer's fault */
    int again = !e->interrupted && !e->script_failed;
    tl_trial_set_status(e, t, again ? TL_PENDING : TL_PAUSED, again ? t->note : "interrupted");
  } else if (!t->fail && t->exit_status == 0 && t->term_signal == 0) {
    tl_trial_set_status(e, t, TL_TERMINATED, NULL);
    ok = 1;
  } else {
    const char *cause = t->fail ? t->fail : t->note;
    char *code = t->term_signal ? tl_strfmt("killed by signal %d (%s)", t->term_signal,
                                            strsignal(t->term_signal))
                                : tl_strfmt("exited with code %lld", (long long)t->exit_status);
    char *p = trial_path(t, "stderr.log");
    char *last = cause ? NULL : tl_last_line(p, 4096);
    free(p);
    reason = cause && e->simulate ? tl_strdup(cause)
             : cause             ? tl_strfmt("%s (trainer %s)", cause, code)
             : last              ? tl_strfmt("trainer %s; last stderr line: %.300s", code, last)
                                 : tl_strfmt("trainer %s", code);
    free(code), free(last);
    t->failures++;
    free(t->error);
    t->error = tl_strdup(reason);
    if (t->failures <= e->max_failures && !e->interrupted && !e->script_failed) {
      char *r = tl_strfmt("%s; retry %d of %d", reason, t->failures, e->max_failures);
      tl_trial_set_status(e, t, TL_PENDING, r);
      free(r);
    } else {
      tl_trial_set_status(e, t, TL_ERROR, reason);
      tl_console_message(e, "trial %s ERROR: %s", t->id, reason);
      ok = 0;
    }
  }
  free(reason);
  char *err = NULL;
  if (ok >= 0 && tl_script_complete(e->script, t->index, ok, &err) != 0) tl_engine_script_error(e, err);
  tl_engine_kick(e);
}

static void on_drain_timer(uv_timer_t *timer) {
  tl_trial *t = timer->data;
  if (t->conn) tl_proto_close(t->conn); /* calls tl_trial_conn_closed */
}

void tl_trial_exited(tl_engine *e, tl_trial *t, int64_t status, int sig) {
  t->exited = 1;
  t->exit_status = status;
  t->term_signal = sig;
  if (t->kill_timer) uv_timer_stop(t->kill_timer);
  if (!t->conn) {
    tl_trial_finish(e, t);
    return;
  }
  /* the socket may still hold the trainer's last words (an error message): let it drain,
   * but not longer than a second if a child of the trainer keeps it open */
  ensure_timer(e, t);
  uv_timer_start(t->kill_timer, on_drain_timer, 1000, 0);
}

void tl_trial_conn_closed(tl_engine *e, tl_trial *t) {
  if (t->exited && t->proc) tl_trial_finish(e, t);
}

/* summary.json: rewritten whole through rename, so readers never see half a file. */
int tl_summary_write(tl_engine *e, const char *status) {
  tl_buf b;
  tl_buf_init(&b);
  double bv = 0;
  int best = tl_trial_best(e, &bv);
  tl_buf_adds(&b, "{\"name\":");
  tl_buf_add_json_str(&b, e->name);
  tl_buf_adds(&b, ",\"metric\":");
  if (e->metric) tl_buf_add_json_str(&b, e->metric);
  else tl_buf_adds(&b, "null");
  tl_buf_adds(&b, ",\"mode\":");
  tl_buf_adds(&b, e->mode > 0 ? "\"max\"" : e->mode < 0 ? "\"min\"" : "null");
  tl_buf_adds(&b, ",\"status\":");
  tl_buf_add_json_str(&b, status);
  tl_buf_adds(&b, ",\"best_trial\":");
  if (best >= 0) tl_buf_add_json_str(&b, e->trials[best]->id);
  else tl_buf_adds(&b, "null");
  char *spent = tl_script_budget_spent(e->script);
  tl_buf_adds(&b, ",\"budget_spent\":"); /* why it ended early, or null */
  if (spent) tl_buf_add_json_str(&b, spent);
  else tl_buf_adds(&b, "null");
  free(spent);
  tl_buf_printf(&b, ",\"seed\":%ld,\"elapsed_s\":", e->seed);
  tl_buf_add_num(&b, floor((tl_engine_now(e) - e->started) * 1000) / 1000);
  tl_buf_adds(&b, ",\"counts\":{");
  for (int s = 0; s < 5; s++)
    tl_buf_printf(&b, "%s\"%s\":%d", s ? "," : "", tl_status_name((tl_status)s), e->counts[s]);
  tl_buf_adds(&b, "},\"trials\":[");
  static tl_buf dir;
  /* streamed to the file through a small buffer: with 100,000 trials the whole text would
   * be tens of MB, the engine's peak RSS */
  char *p = tl_strfmt("%s/summary.json", e->dir), *tmp = tl_strfmt("%s.tmp", p);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int rc = fd < 0 ? -errno : 0;
  for (int i = 0; i < e->ntrials && rc == 0; i++) {
    tl_trial *t = e->trials[i];
    tl_buf_adds(&b, i ? ",\n{\"id\":" : "\n{\"id\":");
    tl_buf_add_json_str(&b, t->id);
    tl_buf_adds(&b, ",\"status\":");
    tl_buf_add_json_str(&b, tl_status_name(t->status));
    tl_buf_adds(&b, ",\"config\":");
    const char *text = t->results_text, *best_text = text ? text + strlen(text) + 1 : NULL;
    if (text) tl_buf_adds(&b, best_text + strlen(best_text) + 1);
    else tl_json_write(&b, t->config);
    tl_buf_printf(&b, ",\"iterations\":%ld,\"failures\":%d,\"last_result\":", t->iterations,
                  t->failures);
    if (text) tl_buf_adds(&b, text);
    else tl_json_write(&b, t->last_result); /* null when NULL */
    tl_buf_adds(&b, ",\"best_result\":");
    if (text) tl_buf_adds(&b, *best_text ? best_text : text);
    else tl_json_write(&b, t->best_result);
    tl_buf_adds(&b, ",\"error\":");
    if (t->error && t->status != TL_TERMINATED) tl_buf_add_json_str(&b, t->error);
    else tl_buf_adds(&b, "null");
    tl_buf_adds(&b, ",\"checkpoint\":");
    const char *ck = tl_trial_latest_checkpoint(t);
    if (ck) tl_buf_add_json_str(&b, ck + strlen(e->dir) + 1);
    else tl_buf_adds(&b, "null");
    tl_buf_adds(&b, ",\"dir\":");
    tl_buf_reset(&dir);
    tl_buf_adds(&dir, "trials/");
    tl_buf_adds(&dir, t->id);
    tl_buf_add_json_str(&b, dir.data);
    tl_buf_addc(&b, '}');
    if (b.len >= 65536) {
      rc = tl_write_all(fd, b.data, b.len);
      tl_buf_reset(&b);
    }
  }
  tl_buf_adds(&b, "]}\n");
  if (rc == 0) rc = tl_write_all(fd, b.data, b.len);
  if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, p) != 0) rc = -errno;
  if (rc != 0) unlink(tmp);
  free(p), free(tmp);
  tl_buf_free(&b);
  e->summary_dirty = 0;
  return rc;
}
