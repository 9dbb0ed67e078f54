#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "dashboard.h"
#include "engine.h"
#include "exec_local.h"
#include "exec_sim.h"
#include "exec_slurm.h"
#include "proto.h"
#include "resources.h"
#include "resume.h"
#include "script.h"
#include "swap.h"
#include "status.h"
#include "spawn.h"
#include "trial.h"

static tl_engine *the_engine; /* for the FFI clock; one engine per process */

double tl_engine_now(tl_engine *e) {
  return e && e->simulate ? e->vclock : (double)uv_hrtime() / 1e9;
}

/* For Lua through the FFI: the engine's clock in seconds (virtual under simulate). */
TL_EXPORT double tl_ffi_engine_now(void) { return tl_engine_now(the_engine); }

void tl_engine_script_error(tl_engine *e, char *err) {
  if (e->script_failed) {
    free(err);
    return;
  }
  e->script_failed = 1;
  e->script_error = err;
  tl_console_message(e, "tunelua: %s, stopping the experiment:\n%s",
                     e->journal.failed ? "journal failure" : e->fatal_kind ? e->fatal_kind : "Lua error",
                     err);
  for (int i = 0; i < e->ntrials; i++)
    if (e->trials[i]->proc && !e->trials[i]->exited) tl_trial_ask(e, e->trials[i], TL_ASK_PAUSE, 0);
  tl_engine_kick(e);
}

static void on_handle_closed(uv_handle_t *h) { (void)h; }

static const char *final_status(tl_engine *e) {
  if (e->interrupted) return "interrupted";
  if (e->script_failed || e->journal.failed) return "failed";
  return "done";
}

/* Everything has stopped: write the final state and let uv_run return. */
static void finish(tl_engine *e) {
  if (e->finished) return;
  e->finished = 1;
  const char *status = final_status(e);
  if (e->journal.failed)
    tl_console_message(e, "tunelua: cannot write the journal: %s", e->journal.error);
  tl_buf *b = tl_journal_begin(&e->journal, "experiment_end", NULL);
  tl_buf_adds(b, ",\"status\":");
  tl_buf_add_json_str(b, status);
  static const char *const sync_modes[] = {"periodic", "always", "never"};
  tl_buf_adds(b, ",\"fsync\":\"");
  tl_buf_adds(b, sync_modes[e->journal.fsync]);
  tl_buf_adds(b, "\",\"syncs\":");
  tl_buf_add_num(b, (double)e->journal.syncs);
  tl_journal_end(&e->journal);
  tl_journal_detach(&e->journal);
  tl_out_flush_all();
  tl_summary_write(e, status);
  tl_console_finish(e, status);
  tl_trial_spare_drop(e);
  uv_close((uv_handle_t *)&e->server, on_handle_closed);
  uv_close((uv_handle_t *)&e->sigint, on_handle_closed);
  uv_close((uv_handle_t *)&e->sigterm, on_handle_closed);
  uv_close((uv_handle_t *)&e->tick, on_handle_closed);
  uv_close((uv_handle_t *)&e->kick, on_handle_closed);
  tl_sim_close(e);
  tl_slurm_close(e);
  tl_swap_close(e);
  tl_dashboard_close(e);
  tl_spawn_close();
  unlink(e->sock_path);
}

/* Starts trials while resources and max_concurrent allow, asking the scheduler which. */
/* Trials that a scheduler ended with exp.stop_trial while they were PAUSED or PENDING;
 * returns how many it ended. */
static int take_stops(tl_engine *e) {
  int *idx = NULL, n = 0, ended = 0;
  char **why = NULL, *err = NULL;
  if (tl_script_take_stops(e->script, &idx, &why, &n, &err) != 0) {
    tl_engine_script_error(e, err);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    tl_trial *t = idx[i] >= 0 && idx[i] < e->ntrials ? e->trials[idx[i]] : NULL;
    if (t && (t->status == TL_PAUSED || t->status == TL_PENDING)) {
      tl_buf *b = tl_journal_begin(&e->journal, "decision", t->id);
      tl_buf_printf(b, ",\"action\":\"stop\",\"by\":\"scheduler\",\"iteration\":%ld", t->iterations);
      tl_journal_end(&e->journal);
      tl_trial_set_status(e, t, TL_TERMINATED, why[i]);
      ended++;
      if (tl_script_complete(e->script, t->index, 1, &err) != 0) tl_engine_script_error(e, err);
    }
    free(why[i]);
  }
  free(idx), free(why);
  return ended;
}

void tl_engine_schedule(tl_engine *e) {
  if (e->finished) return;
  if (!e->script_failed) take_stops(e);
  int nothing = 0;
  while (!e->interrupted && !e->script_failed && !e->journal.failed) {
    if (e->max_concurrent > 0 && e->running >= e->max_concurrent) break;
    int idx, wait, count;
    char *err = NULL;
    if (tl_script_next(e->script, &idx, &wait, &count, &err) != 0) {
      tl_engine_script_error(e, err);
      break;
    }
    while (e->ntrials < count && !e->script_failed) {
      char *id;
      cJSON *cfg;
      if (tl_script_trial(e->script, e->ntrials, &id, &cfg, &err) != 0)
        tl_engine_script_error(e, err);
      else
        tl_trial_add(e, id, cfg);
    }
    if (e->script_failed) break;
    if (idx < 0) {
      /* choose_trial_to_run may end trials as it gives up (those it will never run again): end them
       * now, then ask again, rather than finish with them queued */
      if (!e->script_failed && take_stops(e) > 0) continue;
      nothing = 1;
      if (wait && e->running == 0)
        tl_console_message(e, "tunelua: the searcher waits for results but no trial is running; ending");
      break;
    }
    if (idx >= e->ntrials) {
      tl_engine_script_error(e, tl_strfmt("runner.next returned unknown trial index %d", idx + 1));
      break;
    }
    tl_trial *t = e->trials[idx];
    if (t->status != TL_PENDING && t->status != TL_PAUSED) {
      tl_engine_script_error(e, tl_strfmt("the scheduler chose trial %s, which is %s (choose_trial_to_run "
                                          "must return a PENDING or PAUSED trial)",
                                          t->id, tl_status_name(t->status)));
      break;
    }
    /* a chosen trial that does not fit now stays PENDING/PAUSED until resources free up */
    if (tl_trial_start(e, t) != 0) break;
  }
  if (e->running == 0 && (nothing || e->interrupted || e->script_failed || e->journal.failed)) finish(e);
}

static void on_kick(uv_idle_t *h) {
  tl_engine *e = h->data;
  uv_idle_stop(h);
  e->kick_active = 0;
  tl_engine_schedule(e);
}

void tl_engine_kick(tl_engine *e) {
  if (e->kick_active || e->finished || !e->kick_ready) return; /* not yet: replaying */
  e->kick_active = 1;
  uv_idle_start(&e->kick, on_kick);
}

/* A trial that has gone trial_timeout seconds without a report is killed and counts as a
 * failure (retried while max_failures allows). */
static void check_timeouts(tl_engine *e) {
  double now = tl_engine_now(e);
  for (int i = 0; i < e->ntrials; i++) {
    tl_trial *t = e->trials[i];
    if (t->status != TL_RUNNING || !t->proc || t->exited || t->fail || t->ask != TL_ASK_NONE)
      continue;
    if (now - t->last_report > e->trial_timeout) {
      char *why = tl_strfmt("no report for %.0f s (trial_timeout = %g)", now - t->last_report,
                            e->trial_timeout);
      tl_trial_fail(e, t, why);
      free(why);
    }
  }
}

static void on_tick(uv_timer_t *h) {
  tl_engine *e = h->data;
  if (e->journal.failed && !e->script_failed)
    tl_engine_script_error(e, tl_strfmt("cannot write %s/journal.jsonl: %s; the experiment stops "
                                        "here and can be resumed once there is room",
                                        e->dir, e->journal.error));
  if (e->trial_timeout > 0 && !e->simulate) check_timeouts(e);
  tl_proto_tick(e); /* connections that never said hello */
  tl_out_flush_all(); /* the trials' logs follow the journal within a tick */
  if (e->summary_dirty) tl_summary_write(e, "running");
  tl_console_tick(e);
}

static void on_signal(uv_signal_t *h, int signum) {
  tl_engine *e = h->data;
  if (e->finished) return;
  e->interrupted++;
  if (e->interrupted == 1) {
    tl_console_message(e, "tunelua: %s: stopping %d running trials (again to kill them now); "
                          "state kept in %s",
                       strsignal(signum), e->running, e->dir);
    for (int i = 0; i < e->ntrials; i++)
      if (e->trials[i]->proc && !e->trials[i]->exited) tl_trial_ask(e, e->trials[i], TL_ASK_PAUSE, 0);
  } else {
    for (int i = 0; i < e->ntrials; i++)
      if (e->trials[i]->proc && !e->trials[i]->exited) tl_exec_signal(e->trials[i], SIGKILL);
  }
  tl_engine_kick(e);
}

static char *abs_path(const char *p) {
  if (p[0] == '/') return tl_strdup(p);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return tl_strdup(p);
  return tl_strfmt("%s/%s", cwd, p);
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The binary's directory tells where the trainer clients are: beside it in a source tree,
 * or in ../share/tunelua once installed. */
static void find_install(tl_engine *e) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = 0;
  e->self_exe = tl_strdup(exe);
  e->bin_dir = tl_strdup(dirname(exe));
  char *dev = tl_strfmt("%s/trainers", e->bin_dir);
  char *probe = tl_strfmt("%s/python/tunelua.py", dev);
  if (is_file(probe)) {
    e->trainers_dir = dev;
  } else {
    free(dev);
    e->trainers_dir = tl_strfmt("%s/../share/tunelua/trainers", e->bin_dir);
  }
  free(probe);
}

/* Shared objects: each is copied once into DIR/shared/<name>, read-only; trainers get that
 * path (welcome.shared). The entries become "name=copy". */
static int share(tl_engine *e) {
  for (char **s = e->shared; s && *s; s++) {
    char *eq = strchr(*s, '=');
    char *name = tl_strfmt("%.*s", (int)(eq - *s), *s);
    char *dest = tl_strfmt("%s/shared/%s", e->dir, name);
    char *parent = tl_strfmt("%s/shared", e->dir);
    tl_mkdirs(parent);
    /* a resumed experiment keeps the copy it made the first time */
    int rc = e->opt.resume && access(dest, F_OK) == 0 ? 0 : tl_copy_tree(eq + 1, dest, 1);
    if (rc != 0) {
      fprintf(stderr, "tunelua: cannot share %s (%s): %s\n", name, eq + 1, strerror(-rc));
      free(name), free(dest), free(parent);
      return -1;
    }
    free(*s);
    *s = tl_strfmt("%s=%s", name, dest);
    free(name), free(dest), free(parent);
  }
  return 0;
}

static int make_dir(tl_engine *e) {
  if (e->opt.resume) {
    e->dir = abs_path(e->opt.resume);
    return share(e);
  }
  if (e->opt.dir) {
    e->dir = abs_path(e->opt.dir);
  } else {
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
    char *base = tl_strfmt("tunelua_runs/%s-%s", e->name, stamp);
    char *cand = tl_strdup(base);
    for (int i = 2; access(cand, F_OK) == 0; i++) {
      free(cand);
      cand = tl_strfmt("%s-%d", base, i);
    }
    e->dir = abs_path(cand);
    free(base), free(cand);
  }
  char *journal = tl_strfmt("%s/journal.jsonl", e->dir);
  int exists = access(journal, F_OK) == 0;
  free(journal);
  if (exists) {
    fprintf(stderr, "tunelua: %s already holds an experiment (journal.jsonl); choose another --dir\n",
            e->dir);
    return -1;
  }
  char *trials = tl_strfmt("%s/trials", e->dir);
  int rc = tl_mkdirs(trials);
  free(trials);
  if (rc != 0) {
    fprintf(stderr, "tunelua: cannot create the experiment directory %s: %s\n", e->dir, strerror(-rc));
    return -1;
  }
  char *copy = tl_strfmt("%s/experiment.lua", e->dir);
  tl_copy_file(e->opt.exp_path, copy);
  free(copy);
  return share(e);
}

static void make_token(tl_engine *e) {
  unsigned char raw[32];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n <= 0 && errno != EINTR) break;
    if (n > 0) got += (size_t)n;
  }
  if (got < sizeof raw) { /* no entropy source: still unguessable enough for a local socket */
    srand((unsigned)(uv_hrtime() ^ (uint64_t)getpid()));
    for (size_t i = got; i < sizeof raw; i++) raw[i] = (unsigned char)rand();
  }
  for (size_t i = 0; i < sizeof raw; i++) snprintf(e->token + 2 * i, 3, "%02x", raw[i]);
}

static void engine_free(tl_engine *e) {
  tl_status_unlock();
  for (int i = 0; i < e->ntrials; i++) tl_trial_free(e->trials[i]);
  free(e->trials);
  tl_script_free(e->script);
  tl_journal_close(&e->journal);
  tl_console_free(e);
  tl_dashboard_free(e);
  tl_sim_free(e);
  tl_slurm_free(e);
  tl_swap_free(e);
  for (char **p = e->cmd; p && *p; p++) free(*p);
  for (char **p = e->env; p && *p; p++) free(*p);
  for (char **p = e->shared; p && *p; p++) free(*p);
  free(e->shared), free(e->ckpt_score);
  free(e->cmd), free(e->env), free(e->name), free(e->metric), free(e->cwd), free(e->dir);
  free(e->sock_path), free(e->trainers_dir), free(e->bin_dir), free(e->self_exe);
  free(e->cpu_source), free(e->script_error);
  tl_resources_free(e);
  for (char **p = e->custom_resources; p && *p; p++) free(*p);
  free(e->custom_resources);
  if (e->own_resume) free((char *)e->opt.resume);
}

int tl_engine_run(tl_options *opt) {
  tl_engine E = {0}, *e = &E;
  the_engine = e;
  e->opt = *opt;
  e->best = -1;
  int code = TL_EXIT_USAGE;
  signal(SIGPIPE, SIG_IGN);
  /* SIGHUP asks for a hot swap; until tl_swap_init listens for it, it waits (blocked)
   * instead of killing an engine that is still loading the experiment */
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, NULL);
  uv_loop_t loop;
  uv_loop_init(&loop);
  loop.data = e;
  e->loop = &loop;
  find_install(e);
  char *err = NULL;
  if (opt->resume) {
    char *was = NULL;
    /* before the journal is touched: one engine per directory */
    if (access(opt->resume, F_OK) == 0 && tl_status_lock(opt->resume, &err) != 0) {
      fprintf(stderr, "tunelua resume: %s\n", err);
      free(err);
      goto out;
    }
    if (tl_resume_prepare(opt, &was, &err) != 0) {
      fprintf(stderr, "tunelua resume: %s\n", err);
      free(err);
      goto out;
    }
    e->opt = *opt;
    opt->resume = e->opt.resume = abs_path(opt->resume);
    e->own_resume = 1;
    e->opt.dir = e->opt.resume;
    /* trainers' relative paths are relative to where the experiment first ran */
    if (was && chdir(was) != 0)
      fprintf(stderr, "tunelua resume: cannot go back to %s; staying here\n", was);
    free(was);
  }
  char cwd[PATH_MAX];
  e->cwd = tl_strdup(getcwd(cwd, sizeof cwd) ? cwd : ".");
  const char *lua_dir = opt->lua_dir ? opt->lua_dir : getenv("TUNELUA_LUA_DIR");
  e->script = tl_script_new(lua_dir, &err);
  if (!e->script) {
    fprintf(stderr, "tunelua: %s\n", err);
    free(err);
    goto out;
  }
  make_token(e);
  char hex[9];
  memcpy(hex, e->token + 56, 8), hex[8] = 0; /* the token's bytes are random: so is the seed */
  e->seed = opt->seed >= 0 ? opt->seed : (long)(strtoul(hex, NULL, 16) % 1000000000UL);
  if (tl_script_load(e->script, e, &err) != 0) {
    fprintf(stderr, "tunelua: %s\n", err);
    free(err);
    goto out;
  }
  tl_resources_detect(e, e->resources_fn || e->gpu_per_trial > 0);
  if (opt->dashboard && tl_dashboard_bind(e, opt->dashboard, &err) != 0) {
    fprintf(stderr, "tunelua: %s\n", err);
    free(err);
    goto out;
  }
  if (make_dir(e) != 0) goto out;
  if (tl_status_lock(e->dir, &err) != 0) { /* tunelua status tells a live engine by it */
    fprintf(stderr, "tunelua: %s\n", err);
    free(err);
    goto out;
  }
  const char *jerr;
  char *jpath = tl_strfmt("%s/journal.jsonl", e->dir);
  int jrc = tl_journal_open(&e->journal, jpath, &jerr);
  free(jpath);
  if (jrc != 0) {
    fprintf(stderr, "tunelua: cannot open the journal in %s: %s\n", e->dir, jerr);
    goto out;
  }
  /* the simulator acknowledges nothing to anyone and can rerun from its seed: no syncs */
  tl_journal_sync_mode(&e->journal, &loop, e->simulate ? TL_FSYNC_NEVER : opt->fsync,
                       TL_FSYNC_PERIOD_MS);
  e->sock_path = tl_strfmt("%s/engine.sock", e->dir);
  if (strlen(e->sock_path) >= 100) {
    free(e->sock_path);
    e->sock_path = tl_strfmt("/tmp/tunelua-%d-%.8s.sock", (int)getpid(), e->token);
  }
  const char *perr;
  if (tl_proto_listen(e, &perr) != 0) {
    fprintf(stderr, "tunelua: cannot listen on %s: %s\n", e->sock_path, perr);
    goto out;
  }
  if (tl_script_start(e->script, e, &err) != 0) {
    fprintf(stderr, "tunelua: %s\n", err);
    free(err);
    uv_close((uv_handle_t *)&e->server, on_handle_closed);
    unlink(e->sock_path);
    uv_run(&loop, UV_RUN_DEFAULT);
    goto out;
  }
  if (e->opt.resume) {
    if (tl_resume_replay(e, &err) != 0) {
      fprintf(stderr, "tunelua resume: %s\n", err ? err : "replay failed");
      free(err);
      e->finished = 1;
      uv_close((uv_handle_t *)&e->server, on_handle_closed);
      unlink(e->sock_path);
      uv_run(&loop, UV_RUN_DEFAULT);
      goto out;
    }
    tl_buf *b = tl_journal_begin(&e->journal, "resumed", NULL);
    tl_buf_printf(b, ",\"trials\":%d,\"results\":%ld", e->ntrials, e->results);
    tl_journal_end(&e->journal);
  } else {
    tl_buf *b = tl_journal_begin(&e->journal, "experiment", NULL);
    tl_buf_adds(b, ",\"name\":");
    tl_buf_add_json_str(b, e->name);
    tl_buf_printf(b, ",\"seed\":%ld,\"version\":\"%s\",\"cpus\":", e->seed, TL_VERSION);
    tl_buf_add_num(b, e->cpus_total);
    tl_buf_adds(b, ",\"gpus\":");
    tl_buf_add_num(b, e->gpus_total);
    tl_buf_adds(b, ",\"experiment\":\"experiment.lua\",\"path\":");
    tl_buf_add_json_str(b, opt->exp_path);
    tl_buf_adds(b, ",\"cwd\":");
    tl_buf_add_json_str(b, e->cwd);
    const char *names[] = {"scheduler", "searcher", "executor", "address"};
    const char *vals[] = {opt->scheduler, opt->searcher, opt->executor, opt->address};
    for (int i = 0; i < 4; i++)
      if (vals[i]) {
        tl_buf_printf(b, ",\"%s\":", names[i]);
        tl_buf_add_json_str(b, vals[i]);
      }
    if (opt->max_concurrent) tl_buf_printf(b, ",\"max_concurrent\":%d", opt->max_concurrent);
    if (opt->cpus > 0) tl_buf_printf(b, ",\"cpus_given\":%g", opt->cpus);
    if (opt->gpus >= 0) tl_buf_printf(b, ",\"gpus_given\":%g", opt->gpus);
    if (opt->mem > 0) tl_buf_printf(b, ",\"mem_given\":%.0f", opt->mem);
    const char *budget = getenv("TUNELUA_BUDGET"); /* resume.c sets it again */
    if (budget && *budget) {
      tl_buf_adds(b, ",\"budget_given\":");
      tl_buf_add_json_str(b, budget);
    }
    tl_journal_end(&e->journal);
  }
  if (e->slurm && tl_slurm_init(e, &err) != 0) {
    fprintf(stderr, "tunelua: %s\n", err);
    free(err);
    e->finished = 1;
    uv_close((uv_handle_t *)&e->server, on_handle_closed);
    unlink(e->sock_path);
    uv_run(&loop, UV_RUN_DEFAULT);
    goto out;
  }
  e->started = tl_engine_now(e);
  uv_signal_init(&loop, &e->sigint);
  uv_signal_init(&loop, &e->sigterm);
  e->sigint.data = e->sigterm.data = e;
  uv_signal_start(&e->sigint, on_signal, SIGINT);
  uv_signal_start(&e->sigterm, on_signal, SIGTERM);
  tl_swap_init(e);
  uv_timer_init(&loop, &e->tick);
  e->tick.data = e;
  uv_timer_start(&e->tick, on_tick, 1000, 1000);
  uv_idle_init(&loop, &e->kick);
  e->kick.data = e;
  e->kick_ready = 1;
  if (e->simulate) tl_sim_init(e);
  else tl_trial_spare_make(e);
  tl_console_start(e);
  tl_dashboard_start(e);
  if (e->opt.resume) tl_resume_running(e);
  tl_engine_kick(e);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (e->interrupted) code = TL_EXIT_INTERRUPTED;
  else if (e->script_failed || e->journal.failed || e->counts[TL_ERROR] > 0) code = TL_EXIT_TRIAL_FAILED;
  else code = TL_EXIT_OK;
out:
  if (e->journal.check_init || e->journal.timer_init) { /* ended without finish() */
    tl_journal_detach(&e->journal);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  tl_out_flush_all();
  uv_loop_close(&loop);
  engine_free(e);
  return code;
}
