#include "resume.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_sim.h"
#include "script.h"
#include "swap.h"
#include "tfevents.h"
#include "trial.h"

static const char *str(const cJSON *o, const char *k) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static double num(const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* A count from the journal, clamped into [0, max] (a damaged journal must not overflow). */
static long count(const cJSON *o, const char *k, double dflt, double max) {
  double v = num(o, k, dflt);
  if (!(v >= 0)) return 0; /* also NaN */
  return v > max ? (long)max : (long)v;
}

/* Trial ids become directory names: only what the engine itself writes is accepted. */
static int valid_id(const char *id) {
  if (!id || !*id || strlen(id) > 64 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0) return 0;
  for (const char *p = id; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          *p == '_' || *p == '-' || *p == '.'))
      return 0;
  return 1;
}

int tl_resume_prepare(tl_options *opt, char **cwd, char **err) {
  char *path = tl_strfmt("%s/journal.jsonl", opt->resume);
  long cut = tl_journal_repair(path);
  if (cut < 0) {
    *err = tl_strfmt("%s has no journal.jsonl: nothing to resume", opt->resume);
    free(path);
    return -1;
  }
  FILE *f = fopen(path, "r");
  free(path);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = f ? getline(&line, &cap, f) : -1;
  if (f) fclose(f);
  cJSON *ev = n > 0 ? cJSON_Parse(line) : NULL;
  free(line);
  const char *kind = str(ev, "ev");
  if (!kind || strcmp(kind, "experiment") != 0) {
    *err = tl_strfmt("%s/journal.jsonl does not start with the experiment line", opt->resume);
    cJSON_Delete(ev);
    return -1;
  }
  /* what the first run was given (or its last hot swap), unless the resume says otherwise */
  tl_swap_resume_prepare(opt);
  static char keep[6][4096];
  const char *fields[] = {"scheduler", "searcher", "executor", "address", NULL};
  const char **slots[] = {&opt->scheduler, &opt->searcher, &opt->executor, &opt->address};
  for (int i = 0; fields[i]; i++)
    if (!*slots[i] && str(ev, fields[i])) {
      snprintf(keep[i], sizeof keep[i], "%s", str(ev, fields[i]));
      *slots[i] = keep[i];
    }
  if (opt->seed < 0) opt->seed = count(ev, "seed", 0, 2e15);
  if (opt->max_concurrent == 0) opt->max_concurrent = (int)count(ev, "max_concurrent", 0, 1e6);
  if (opt->cpus <= 0) opt->cpus = num(ev, "cpus_given", 0);
  if (opt->gpus < 0) opt->gpus = num(ev, "gpus_given", -1);
  if (opt->mem <= 0) opt->mem = num(ev, "mem_given", 0);
  /* a TUNELUA_BUDGET of the first run (tunelua compare --budget) holds for the resume too */
  const char *budget = getenv("TUNELUA_BUDGET");
  if ((!budget || !*budget) && str(ev, "budget_given"))
    setenv("TUNELUA_BUDGET", str(ev, "budget_given"), 1);
  *cwd = str(ev, "cwd") ? tl_strdup(str(ev, "cwd")) : NULL;
  if (str(ev, "name")) { /* not the copy's file name, for an experiment named after its file */
    snprintf(keep[3], sizeof keep[3], "%s", str(ev, "name"));
    opt->name = keep[3];
  }
  snprintf(keep[5], sizeof keep[5], "%s/experiment.lua", opt->resume);
  opt->exp_path = keep[5];
  opt->dir = opt->resume;
  cJSON_Delete(ev);
  if (cut > 0) fprintf(stderr, "tunelua: cut a torn last line (%ld bytes) off the journal\n", cut);
  return 0;
}

static void script_fail(tl_engine *e, char *err) { tl_engine_script_error(e, err); }

/* result.jsonl and the TensorBoard events are written after the journal (outbuf.h): after a
 * crash they may miss the last results the journal has. The first result of a trial in the
 * replay reads the file's last iteration (a torn last line cut off); every journaled result
 * after it is appended. The events files are read back (tl_tfevents_repair: a torn record
 * cut off) for the steps they hold; a journaled result whose step none of them holds goes
 * into this run's events file, so that TensorBoard shows each step once. */
typedef struct {
  long file_iter; /* last training_iteration in result.jsonl; -1 not read */
  int tb_read;    /* the events files were read */
  long tb_max;    /* the largest step they hold */
  long *tb_steps; /* the steps they hold, sorted */
  size_t tb_n, tb_cap, tb_at;
} replay_trial;

typedef struct {
  replay_trial *trials; /* by trial index */
  int n;
} replay_files;

static void tb_step(void *ud, long s) {
  replay_trial *rt = ud;
  if (rt->tb_n == rt->tb_cap) {
    rt->tb_cap = rt->tb_cap ? 2 * rt->tb_cap : 64;
    rt->tb_steps = tl_xrealloc(rt->tb_steps, rt->tb_cap * sizeof *rt->tb_steps);
  }
  rt->tb_steps[rt->tb_n++] = s;
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* Calls tl_tfevents_repair on every events file of the trial's directory. */
static long tb_files(tl_trial *t, long max_step, replay_trial *rt) {
  DIR *d = opendir(t->dir);
  struct dirent *de;
  long max = 0;
  while (d && (de = readdir(d))) {
    if (strncmp(de->d_name, "events.out.tfevents.", 20) != 0) continue;
    char *p = tl_strfmt("%s/%s", t->dir, de->d_name);
    long m = tl_tfevents_repair(p, max_step, rt ? tb_step : NULL, rt);
    if (m > max) max = m;
    free(p);
  }
  if (d) closedir(d);
  return max;
}

static void complete_events(tl_engine *e, tl_trial *t, replay_trial *rt, const cJSON *r) {
  if (!e->tensorboard) return;
  if (!rt->tb_read) {
    rt->tb_read = 1;
    rt->tb_max = tb_files(t, -1, rt);
    if (rt->tb_n) qsort(rt->tb_steps, rt->tb_n, sizeof *rt->tb_steps, cmp_long);
  }
  while (rt->tb_at < rt->tb_n && rt->tb_steps[rt->tb_at] < t->iterations) rt->tb_at++;
  if (rt->tb_at < rt->tb_n && rt->tb_steps[rt->tb_at] == t->iterations) return;
  if (!tl_out_is_open(&t->out_tfevents)) {
    tl_out *o = &t->out_tfevents;
    char *path = tl_tfevents_path(t->dir);
    tl_buf head;
    tl_buf_init(&head);
    tl_tfevents_header(&head, tl_wallclock());
    tl_out_open_bg(NULL, 1, &o, &path, &head);
    tl_buf_free(&head);
  }
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(r, "timestamp");
  tl_buf rec;
  tl_buf_init(&rec);
  if (tl_tfevents_encode(&rec, r, t->iterations,
                         cJSON_IsNumber(ts) ? ts->valuedouble : tl_wallclock()))
    tl_out_add(&t->out_tfevents, rec.data, rec.len);
  tl_buf_free(&rec);
}

static void complete_results(tl_engine *e, tl_trial *t, replay_files *rf, const cJSON *r) {
  if (t->index >= rf->n) {
    int n = rf->n ? rf->n : 64;
    while (n <= t->index) n *= 2;
    rf->trials = tl_xrealloc(rf->trials, (size_t)n * sizeof *rf->trials);
    memset(rf->trials + rf->n, 0, (size_t)(n - rf->n) * sizeof *rf->trials);
    for (int i = rf->n; i < n; i++) rf->trials[i].file_iter = -1;
    rf->n = n;
  }
  complete_events(e, t, &rf->trials[t->index], r);
  long *have = &rf->trials[t->index].file_iter;
  char *p = NULL;
  if (*have < 0) {
    p = tl_strfmt("%s/result.jsonl", t->dir);
    tl_journal_repair(p);
    char *last = tl_last_line(p, TL_MAX_LINE + 2);
    cJSON *lr = last ? cJSON_Parse(last) : NULL;
    /* no file or an empty one: all of it; a last line that says nothing: leave it alone */
    *have = !last ? 0 : (long)num(lr, "training_iteration", 1e15);
    cJSON_Delete(lr);
    free(last);
  }
  if (t->iterations > *have) {
    if (!tl_out_is_open(&t->out_result)) {
      if (!p) p = tl_strfmt("%s/result.jsonl", t->dir);
      tl_out_open(&t->out_result, p);
    }
    tl_buf line;
    tl_buf_init(&line);
    tl_json_write(&line, r);
    tl_buf_addc(&line, '\n');
    tl_out_add(&t->out_result, line.data, line.len);
    tl_buf_free(&line);
    *have = t->iterations;
  }
  free(p);
}

static int replay_line(tl_engine *e, cJSON *ev, long lineno, double *vt, replay_files *rf,
                       char **err) {
  const char *kind = str(ev, "ev"), *id = str(ev, "trial");
  if (!kind) return 0;
  tl_trial *t = id ? tl_trial_find(e, id) : NULL;
  char *lerr = NULL;
  if (strcmp(kind, "trial_added") == 0) {
    cJSON *cfg = cJSON_DetachItemFromObjectCaseSensitive(ev, "config");
    if (!valid_id(id) || !cJSON_IsObject(cfg) || t) {
      cJSON_Delete(cfg);
      *err = tl_strfmt("journal line %ld: a trial_added without a valid id and config, or twice",
                       lineno);
      return -1;
    }
    if (tl_script_replay_add(e->script, id, cfg, &lerr) != 0) {
      cJSON_Delete(cfg);
      return script_fail(e, lerr), -1;
    }
    tl_trial_add(e, tl_strdup(id), cfg);
    return 0;
  }
  if (!t) return 0; /* experiment, experiment_end, resumed … */
  if (strcmp(kind, "started") == 0) {
    t->pid = (int)count(ev, "pid", 0, 4194304);
    t->vt = num(ev, "vt", t->vt);
  } else if (strcmp(kind, "decision") == 0) {
    /* told to end, but the engine died before the trial did: the resume honours it */
    const char *a = str(ev, "action");
    t->ask = !a                           ? TL_ASK_NONE
             : strcmp(a, "stop") == 0     ? TL_ASK_STOP
             : strcmp(a, "pause") == 0    ? TL_ASK_PAUSE
                                          : TL_ASK_NONE;
    const char *by = str(ev, "by");
    t->by_rule = !by ? 0 : strcmp(by, "stop") == 0 ? 1 : strcmp(by, "budget") == 0 ? 2 : 0;
  } else if (strcmp(kind, "status") == 0) {
    t->ask = TL_ASK_NONE;
    const char *s = str(ev, "status"), *reason = str(ev, "reason");
    static const char *names[] = {"PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"};
    int to = -1;
    for (int i = 0; i < 5; i++)
      if (s && strcmp(s, names[i]) == 0) to = i;
    if (to < 0) return 0;
    t->failures = (int)count(ev, "failures", t->failures, 1e6);
    if ((to == TL_ERROR || (to == TL_PENDING && t->status == TL_RUNNING)) && reason) {
      free(t->error);
      t->error = tl_strdup(reason);
    }
    tl_trial_set_status(e, t, (tl_status)to, reason);
    if (to == TL_TERMINATED || to == TL_ERROR) {
      if (tl_script_complete(e->script, t->index, to == TL_TERMINATED, &lerr) != 0)
        return script_fail(e, lerr), -1;
    }
  } else if (strcmp(kind, "result") == 0) {
    cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(ev, "result");
    if (!cJSON_IsObject(r)) {
      cJSON_Delete(r);
      return 0;
    }
    t->iterations = count(r, "training_iteration", (double)t->iterations + 1, 1e15);
    t->time_total = num(r, "time_total_s", t->time_total);
    complete_results(e, t, rf, r);
    *vt = num(ev, "vt", *vt);
    t->vt = num(ev, "vt", t->vt);
    e->results++;
    tl_trial_set_last(e, t, r);
    if (tl_script_replay_result(e->script, t->index, r, &lerr) != 0) return script_fail(e, lerr), -1;
  } else if (strcmp(kind, "exploit") == 0) {
    cJSON *cfg = cJSON_DetachItemFromObjectCaseSensitive(ev, "config");
    if (cfg) {
      cJSON_Delete(tl_trial_config(t));
      t->config = cfg;
      tl_trial *src = str(ev, "from") ? tl_trial_find(e, str(ev, "from")) : NULL;
      t->exploit_from = src ? src->index : -1;
      if (tl_script_set_config(e->script, t->index, cfg, &lerr) != 0) return script_fail(e, lerr), -1;
    }
  } else if (strcmp(kind, "checkpoint") == 0 && str(ev, "path")) {
    long keep_it = t->iterations;
    t->iterations = count(ev, "iteration", (double)t->iterations, 1e15);
    tl_trial_add_checkpoint(e, t, tl_strdup(str(ev, "path")), tl_trial_last(t));
    t->iterations = keep_it;
  } else if (strcmp(kind, "checkpoint_deleted") == 0 && str(ev, "path")) {
    for (int i = 0; i < t->nckpts; i++)
      if (strcmp(t->ckpts[i].path, str(ev, "path")) == 0) {
        free(t->ckpts[i].path);
        memmove(&t->ckpts[i], &t->ckpts[i + 1], (size_t)(t->nckpts - i - 1) * sizeof *t->ckpts);
        t->nckpts--;
        break;
      }
  }
  return 0;
}

int tl_resume_replay(tl_engine *e, char **err) {
  char *path = tl_strfmt("%s/journal.jsonl", e->dir);
  FILE *f = fopen(path, "r");
  free(path);
  if (!f) {
    *err = tl_strfmt("cannot read %s/journal.jsonl", e->dir);
    return -1;
  }
  e->journal.mute = 1;
  tl_script_replaying(e->script, 1);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long lineno = 0;
  double vt = 0;
  int rc = 0;
  replay_files rf = {0};
  double used = 0, run_start = -1, run_last = -1;
  while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
    lineno++;
    cJSON *ev = cJSON_ParseWithLength(line, (size_t)n);
    /* wall time of the earlier runs, each from its experiment or resumed line to its last */
    double at = num(ev, "t", -1);
    const char *kind = str(ev, "ev");
    if (at >= 0 && kind && (strcmp(kind, "experiment") == 0 || strcmp(kind, "resumed") == 0)) {
      if (run_start >= 0) used += run_last - run_start;
      run_start = run_last = at;
    } else if (at >= run_last) {
      run_last = at;
    }
    if (!cJSON_IsObject(ev)) {
      *err = tl_strfmt("journal.jsonl line %ld is not a JSON object: the journal is damaged", lineno);
      rc = -1;
    } else {
      rc = replay_line(e, ev, lineno, &vt, &rf, err);
      if (rc != 0 && !*err) *err = tl_strfmt("replaying journal line %ld failed: %s", lineno,
                                              e->script_error ? e->script_error : "?");
    }
    cJSON_Delete(ev);
  }
  free(line);
  fclose(f);
  e->journal.mute = 0;
  tl_script_replaying(e->script, 0);
  if (rc == 0) tl_swap_resume_journal(e);
  e->vclock = vt;
  if (run_start >= 0) used += run_last - run_start;
  char *berr = NULL;
  if (rc == 0 && tl_script_budget_resume(e->script, used, &berr) != 0) {
    *err = berr;
    rc = -1;
  }
  for (int i = 0; i < e->ntrials; i++) {
    tl_trial *t = e->trials[i];
    tl_out_close(&t->out_result); /* what complete_results appended */
    tl_out_close(&t->out_tfevents);
    if (t->iterations > 0) tl_trial_files_repair(t);
    /* steps the events files got before the journal recorded them (a 64 KiB write) */
    if (i < rf.n && rf.trials[i].tb_read && rf.trials[i].tb_max > t->iterations)
      tb_files(t, t->iterations, NULL);
  }
  for (int i = 0; i < rf.n; i++) free(rf.trials[i].tb_steps);
  free(rf.trials);
  return rc;
}

/* A trainer of the previous engine may still run (it lives in its own session): end it, if
 * /proc says that this pid is still that trial's process. */
static void end_leftover(tl_engine *e, tl_trial *t) {
  if (t->pid <= 0) return;
  char *p = tl_strfmt("/proc/%d/environ", t->pid);
  size_t n;
  char *env = tl_read_file(p, &n);
  free(p);
  if (!env) return;
  char *want_id = tl_strfmt("TUNELUA_TRIAL_ID=%s", t->id);
  char *want_dir = tl_strfmt("TUNELUA_EXPERIMENT_DIR=%s", e->dir);
  int id = 0, dir = 0;
  for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
    id |= strcmp(env + i, want_id) == 0;
    dir |= strcmp(env + i, want_dir) == 0;
  }
  if (id && dir) kill(-t->pid, SIGKILL);
  free(env), free(want_id), free(want_dir);
}

void tl_resume_running(tl_engine *e) {
  for (int i = 0; i < e->ntrials; i++) {
    tl_trial *t = e->trials[i];
    if (t->status != TL_RUNNING) continue;
    tl_ask ask = t->ask;
    t->ask = TL_ASK_NONE;
    if (ask == TL_ASK_STOP || ask == TL_ASK_PAUSE) {
      if (!e->simulate) end_leftover(e, t);
      int stop = ask == TL_ASK_STOP;
      char *spent = stop && t->by_rule == 2 ? tl_script_budget_spent(e->script) : NULL;
      tl_trial_set_status(e, t, stop ? TL_TERMINATED : TL_PAUSED,
                          spent  ? spent
                          : stop ? (t->by_rule ? "stop criterion met" : "stopped by the scheduler")
                                 : "paused");
      free(spent);
      char *err = NULL;
      if (stop && tl_script_complete(e->script, t->index, 1, &err) != 0)
        tl_engine_script_error(e, err);
    } else if (e->simulate) {
      /* a simulated trial goes on from its last result's instant, as if never interrupted */
      tl_sim_resume(e, t);
    } else {
      end_leftover(e, t);
      tl_trial_set_status(e, t, TL_PENDING, "resumed: restarts from its newest checkpoint");
    }
  }
}
