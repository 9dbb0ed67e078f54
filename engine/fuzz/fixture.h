/* A minimal engine for the fuzz targets: a uv loop, the embedded Lua runtime with a small
 * experiment loaded and started, a journal, and an experiment directory on tmpfs. No trainer
 * is ever spawned: e->finished is set, so tl_engine_kick never runs a scheduling pass, and
 * the trials the fixture marks RUNNING have a fake process (pid 0: no signal goes anywhere).
 *
 * Each input gets a fresh engine (a new Lua state too), so a crash reproduces from its input
 * alone. The experiment directory is FZ_ROOT/run, removed after each input; the process's
 * working directory is FZ_ROOT while an input runs (relative paths in inputs, such as a
 * checkpoint's "trials/00000/ck", mean the same thing on every machine). Run the targets with
 * an absolute -artifact_prefix (`make fuzz` does). */
#ifndef TL_FUZZ_FIXTURE_H
#define TL_FUZZ_FIXTURE_H

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "exec_sim.h"
#include "journal.h"
#include "script.h"
#include "trial.h"
#include "util.h"

/* Experiments the targets choose from (a flag byte of the input, or the journal's first
 * line). Each must load with the current DSL: fz_init aborts with the Lua error otherwise. */
static const char *const fz_experiments[] = {
    /* 0: FIFO, stop rule, checkpoint retention by score, reuse */
    "local tune = require 'tunelua'\n"
    "return tune.experiment {\n"
    "  name = 'fz',\n"
    "  trainer = { cmd = { 'true' }, resources = { cpu = 1 }, reuse = true },\n"
    "  config = { lr = tune.grid_search { 0.1, 0.2 }, nested = { a = { 1, 2 } } },\n"
    "  metric = 'loss', mode = 'min',\n"
    "  stop = { training_iteration = 6, loss = -100 },\n"
    "  checkpoint = { every = 2, keep = 2, score = 'loss' },\n"
    "}\n",
    /* 1: ASHA (stops and promotions) */
    "local tune = require 'tunelua'\n"
    "return tune.experiment {\n"
    "  name = 'fz',\n"
    "  trainer = { cmd = { 'true' }, resources = { cpu = 1 } },\n"
    "  config = { lr = tune.grid_search { 0.1, 0.2 } },\n"
    "  metric = 'loss', mode = 'min',\n"
    "  stop = { training_iteration = 9 },\n"
    "  scheduler = tune.schedulers.asha { max_t = 8, grace_period = 1, reduction_factor = 2 },\n"
    "}\n",
    /* 2: PBT with reuse: exploits send reset decisions (trial 00001 has a checkpoint) */
    "local tune = require 'tunelua'\n"
    "return tune.experiment {\n"
    "  name = 'fz',\n"
    "  trainer = { cmd = { 'true' }, resources = { cpu = 1 }, reuse = true },\n"
    "  config = { lr = tune.grid_search { 0.1, 0.2 } },\n"
    "  metric = 'loss', mode = 'min',\n"
    "  stop = { training_iteration = 12 },\n"
    "  checkpoint = { every = 1, keep = 3 },\n"
    "  scheduler = tune.schedulers.pbt {\n"
    "    time_attr = 'training_iteration', perturbation_interval = 1,\n"
    "    hyperparam_mutations = { lr = tune.uniform(0.01, 1) },\n"
    "  },\n"
    "}\n",
};
#define FZ_NEXPERIMENTS ((int)(sizeof fz_experiments / sizeof *fz_experiments))

static char fz_root[PATH_MAX];
static char fz_exp_path[FZ_NEXPERIMENTS][PATH_MAX];
static int fz_home = -1; /* the working directory libFuzzer started in */

typedef struct {
  uv_loop_t loop;
  tl_engine e;
  uv_process_t fake_proc; /* a "live process" for RUNNING trials; never touched by libuv */
} fz_engine;

static void fz_cleanup(void) {
  if (fz_root[0]) tl_remove_tree(fz_root);
}

static void fz_die(const char *what, const char *why) {
  fprintf(stderr, "fuzz fixture: %s: %s\n", what, why ? why : "?");
  abort();
}

static void fz_enter(void) { /* while an input runs, relative paths are FZ_ROOT's */
  if (chdir(fz_root) != 0) fz_die("chdir", fz_root);
}

static void fz_leave(void) {
  if (fchdir(fz_home) != 0) fz_die("fchdir", "back to the starting directory");
}

static void fz_close_cb(uv_handle_t *h) { free(h); }

/* Closes the engine's handles and frees everything fz_engine_open made. */
static void fz_engine_close(fz_engine *f) {
  tl_engine *e = &f->e;
  for (int i = 0; i < e->ntrials; i++) {
    tl_trial *t = e->trials[i];
    if (t->kill_timer) {
      uv_close((uv_handle_t *)t->kill_timer, fz_close_cb);
      t->kill_timer = NULL;
    }
    tl_out_close(&t->out_result);
    tl_out_close(&t->out_csv);
    t->proc = NULL;
  }
  tl_journal_detach(&e->journal);
  uv_run(&f->loop, UV_RUN_DEFAULT); /* close callbacks, journal syncs in flight */
  if (uv_loop_close(&f->loop) != 0) fz_die("uv_loop_close", "a handle is still open");
  for (int i = 0; i < e->ntrials; i++) tl_trial_free(e->trials[i]);
  free(e->trials);
  tl_script_free(e->script);
  tl_journal_close(&e->journal);
  tl_sim_free(e);
  for (char **p = e->cmd; p && *p; p++) free(*p);
  for (char **p = e->env; p && *p; p++) free(*p);
  for (char **p = e->shared; p && *p; p++) free(*p);
  free(e->shared), free(e->ckpt_score);
  free(e->cmd), free(e->env), free(e->name), free(e->metric), free(e->cwd);
  free(e->cpu_source), free(e->script_error);
  if (e->dir) tl_remove_tree(e->dir);
  free(e->dir);
  memset(f, 0, sizeof *f);
}

/* The engine up to the point where tl_engine_run starts its loop: script loaded and
 * started, journal open. opt (may be NULL) carries a resume's options. Returns 0, or -1 with
 * *err (owned) when the script refuses the options. */
static int fz_engine_open(fz_engine *f, const tl_options *opt, int experiment, int fsync,
                          char **err) {
  memset(f, 0, sizeof *f);
  tl_engine *e = &f->e;
  uv_loop_init(&f->loop);
  f->loop.data = e;
  e->loop = &f->loop;
  e->best = -1;
  e->finished = 1; /* no scheduling pass: nothing is spawned */
  e->journal.fd = -1;
  strcpy(e->token, "secret");
  if (opt) {
    e->opt = *opt;
  } else {
    e->opt.seed = 1;
    e->opt.gpus = -1;
    e->opt.exp_path = fz_exp_path[experiment];
  }
  e->seed = 1;
  e->cwd = tl_strdup(fz_root);
  e->dir = tl_strfmt("%s/run", fz_root);
  e->cpus_total = 8, e->gpus_total = 0;
  char *trials = tl_strfmt("%s/trials", e->dir);
  tl_mkdirs(trials);
  free(trials);
  char *lerr = NULL;
  e->script = tl_script_new(NULL, &lerr);
  if (!e->script) fz_die("tl_script_new", lerr);
  if (tl_script_load(e->script, e, err) != 0) return -1;
  const char *jerr = NULL;
  char *jpath = tl_strfmt("%s/journal.jsonl", e->dir);
  if (tl_journal_open(&e->journal, jpath, &jerr) != 0) fz_die("tl_journal_open", jerr);
  free(jpath);
  e->journal.loop = &f->loop;
  e->journal.fsync = fsync;
  if (tl_script_start(e->script, e, err) != 0) return -1;
  return 0;
}

/* Asks the scheduler for n trials and marks them RUNNING with a fake process, as
 * tl_trial_start does after a spawn. */
static void fz_start_trials(fz_engine *f, int n) {
  tl_engine *e = &f->e;
  for (int k = 0; k < n; k++) {
    int idx, wait, count;
    char *err = NULL;
    if (tl_script_next(e->script, &idx, &wait, &count, &err) != 0) fz_die("tl_script_next", err);
    while (e->ntrials < count) {
      char *id;
      cJSON *cfg;
      if (tl_script_trial(e->script, e->ntrials, &id, &cfg, &err) != 0)
        fz_die("tl_script_trial", err);
      tl_trial_add(e, id, cfg);
    }
    if (idx < 0) fz_die("tl_script_next", "no trial to start");
    tl_trial *t = e->trials[idx];
    char *p = tl_strfmt("%s/result.jsonl", t->dir);
    tl_out_open(&t->out_result, p);
    free(p);
    p = tl_strfmt("%s/progress.csv", t->dir);
    tl_out_open(&t->out_csv, p);
    free(p);
    t->proc = &f->fake_proc;
    t->pid = 0;
    t->cpu = e->cpu_per_trial;
    e->cpus_used += t->cpu;
    e->running++;
    t->run_started = t->last_report = tl_engine_now(e);
    tl_trial_set_status(e, t, TL_RUNNING, NULL);
  }
}

static void fz_write_file(const char *path, const char *data, size_t len) {
  if (tl_write_file_atomic(path, data, len) != 0) fz_die("write", path);
}

/* Once per process: FZ_ROOT on tmpfs when there is one, the experiment files, and a check
 * that every experiment loads. */
static void fz_init(const char *name) {
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(fz_root, sizeof fz_root, "%s/tunelua-%s-XXXXXX", base, name);
  if (!mkdtemp(fz_root)) fz_die("mkdtemp", fz_root);
  atexit(fz_cleanup);
  fz_home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fz_home < 0) fz_die("open", ".");
  for (int i = 0; i < FZ_NEXPERIMENTS; i++) {
    snprintf(fz_exp_path[i], sizeof fz_exp_path[i], "%s/exp%d.lua", fz_root, i);
    fz_write_file(fz_exp_path[i], fz_experiments[i], strlen(fz_experiments[i]));
  }
  fz_enter();
  for (int i = 0; i < FZ_NEXPERIMENTS; i++) {
    fz_engine f;
    char *err = NULL;
    if (fz_engine_open(&f, NULL, i, 0, &err) != 0) fz_die(fz_exp_path[i], err);
    fz_start_trials(&f, 2);
    fz_engine_close(&f);
  }
  fz_leave();
}

#endif
