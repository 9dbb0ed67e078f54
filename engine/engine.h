/* The engine's shared state: one experiment, its trials, and the handles of the loop.
 * Every module works on a tl_engine; ownership of each field is noted beside it. */
#ifndef TL_ENGINE_H
#define TL_ENGINE_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <uv.h>

#include "journal.h"
#include "outbuf.h"
#include "util.h"

#define TL_VERSION "0.1.0"
#define TL_EXPORT __attribute__((visibility("default")))
#define TL_MAX_LINE (1u << 20) /* largest protocol message, bytes */
#define TL_MAX_DEPTH 16        /* deepest nesting of a report's metrics */

enum { TL_EXIT_OK = 0, TL_EXIT_TRIAL_FAILED = 1, TL_EXIT_USAGE = 2, TL_EXIT_INTERRUPTED = 3 };

typedef enum { TL_PENDING, TL_RUNNING, TL_PAUSED, TL_TERMINATED, TL_ERROR } tl_status;
const char *tl_status_name(tl_status s);

/* What the engine asked a running trial to do; decides the state it ends in on exit.
 * RESTART: an exploit; the trial goes back to PENDING with its new config. RESET: the live
 * process was sent a reset decision and its reset_done is awaited. */
typedef enum { TL_ASK_NONE, TL_ASK_STOP, TL_ASK_PAUSE, TL_ASK_RESTART, TL_ASK_RESET } tl_ask;

typedef struct {
  char *path;       /* absolute (owned) */
  long iteration;
  double score;
  int has_score;
} tl_ckpt;

struct tl_conn;
struct tl_script;

typedef struct tl_trial {
  int index; /* 0-based position; Lua sees index + 1 */
  char *id;
  char *dir;            /* absolute path of trials/<id> (owned) */
  cJSON *config;        /* owned; NULL while results_text holds it */
  cJSON *last_result;   /* owned, may be NULL */
  cJSON *best_result;   /* owned, may be NULL; may be the last_result itself (shared) */
  char *results_text;   /* TERMINATED: the 3 above as JSON text, they NULL (trial.c) */
  double metric_done;   /* with results_text: the last result's metric, NaN none */
  char *error;          /* reason of the last failure (owned) */
  char *note;           /* something the engine saw that explains a later failure (owned) */
  tl_status status;
  long iterations;      /* training_iteration of the last result */
  int failures;
  double time_total;    /* seconds of reported training over every run */
  double run_started;   /* loop clock at spawn */
  double last_report;   /* loop clock of the last report (or spawn) */
  double cpu;           /* CPUs held while running */
  struct tl_alloc *alloc; /* its PUs, cards, memory while running (resources.c; owned) */
  /* process state, while a process exists */
  uv_process_t *proc;   /* freed in its close callback */
  int pid;
  int exited;
  int64_t exit_status;
  int term_signal;
  int said_done;        /* the trainer sent done */
  char *fail;           /* set when the engine failed the trial (protocol error) (owned) */
  tl_ask ask;
  int by_rule;          /* the stop rule (not the scheduler) asked it to stop */
  int kill_stage;       /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */
  uv_timer_t *kill_timer;
  struct tl_conn *conn; /* bound connection, borrowed */
  tl_out out_result, out_csv; /* result.jsonl, progress.csv: buffered (outbuf.h) */
  tl_out out_tfevents;        /* events.out.tfevents (tfevents.c); closed when off */
  char *csv_cols;       /* progress.csv header: ncsv_cols names, each NUL-ended (owned) */
  int ncsv_cols;
  tl_ckpt *ckpts;       /* recorded checkpoints, oldest first (owned) */
  int nckpts;
  int exploit_from;     /* index of the trial an exploit copied, -1 none */
  double vt;            /* simulate: virtual instant of its last result */
  struct tl_srun *srun; /* slurm: the srun of its current run (exec_slurm.c; owned) */
  int lost;             /* slurm: its step died with its node; retried without a failure */
} tl_trial;

typedef struct tl_options {
  const char *exp_path;
  const char *dir;
  const char *scheduler;
  const char *searcher;
  const char *executor;
  const char *lua_dir;  /* development override of the embedded Lua runtime */
  long seed;            /* -1: not given */
  int max_concurrent;   /* 0: not given, -1: given as 0 (no cap) */
  double cpus;          /* 0: detect */
  double gpus;          /* -1: detect */
  double mem;           /* bytes trials may take in all; 0: detect */
  const char **custom;  /* --resource NAME=N (argv strings), NULL-terminated, or NULL */
  int no_bind;          /* --no-bind: do not pin trials to their PUs */
  int quiet, json;
  int fsync;             /* TL_FSYNC_* (journal.h): --fsync always|periodic|never */
  const char *resume;    /* tunelua resume DIR */
  const char *address;   /* --address HOST[:PORT]: where slurm trainers connect back */
  const char *dashboard; /* --dashboard [HOST:]PORT, or NULL */
  const char *name;      /* resume: the name the experiment started with (its journal) */
} tl_options;

#define TL_SPARES 16

typedef struct tl_engine {
  uv_loop_t *loop;
  struct tl_script *script;
  tl_options opt;
  /* experiment, as the Lua side validated it */
  char *name, *metric;
  int mode;             /* 1 max, -1 min, 0 none */
  char **cmd;           /* argv, NULL-terminated (owned) */
  char **env;           /* extra "K=V" entries, NULL-terminated (owned) */
  char *cwd;            /* where trainers run: the directory tunelua was started in */
  double cpu_per_trial, gpu_per_trial;
  int max_concurrent, max_failures;
  double stop_grace_s;
  double trial_timeout; /* seconds a running trial may go without reporting; 0: no limit */
  long seed;
  int reuse;            /* class trainers may take reset decisions instead of restarts */
  int simulate;         /* the simulate executor: Lua trainers on a virtual clock */
  double vclock;        /* its clock, seconds */
  struct tl_sim *sim;
  struct tl_slurm *slurm; /* the slurm executor, NULL for the others (exec_slurm.c; owned) */
  int ckpt_every, ckpt_at_end, ckpt_keep, ckpt_score_max;
  int tensorboard;      /* logs.tensorboard: trials write events.out.tfevents files */
  char *ckpt_score;     /* metric that ranks checkpoints for retention, or NULL (newest) */
  double ckpt_timeout_s;/* grace for a trainer that checkpoints before it exits */
  char **shared;        /* "name=absolute read-only path", NULL-terminated (owned) */
  /* resources */
  double cpus_total, cpus_used;
  double gpus_total;
  char *cpu_source;
  struct tl_res *res;   /* the inventory and what is in use (resources.c; owned) */
  char **custom_resources; /* the experiment's custom_resources, "name=amount" (owned) */
  int resources_fn;     /* trainer.resources is a function of the config */
  /* paths */
  char *dir, *sock_path, *trainers_dir, *bin_dir, *self_exe;
  char token[65];
  /* trials */
  tl_trial **trials;
  int ntrials, cap_trials;
  int running;          /* trials with a live process */
  int counts[5];        /* trials by status */
  int best;             /* index of the best trial, -1 none */
  double best_value;
  /* loop state */
  int no_more_trials;   /* the scheduler and searcher have nothing left to start */
  int interrupted;      /* 1 after SIGINT/SIGTERM, 2 after the second */
  int script_failed;
  char *script_error;
  const char *fatal_kind; /* what stopped the experiment when not a Lua error ("slurm") */
  int finished;
  double started;       /* loop clock at start */
  double wall_started;
  int summary_dirty;
  tl_journal journal;
  uv_pipe_t server;
  uv_signal_t sigint, sigterm;
  uv_timer_t tick;      /* console redraw, summary flush */
  uv_idle_t kick;       /* runs a scheduling pass once the current callbacks are done */
  int kick_active, kick_ready;
  /* trial directories made ahead on the thread pool (trial.c): as many as trials have run
   * at once, at most TL_SPARES */
  struct tl_spare *spares[TL_SPARES];
  int spares_want;
  struct tl_console *console;
  long results;         /* results seen in this run */
  int own_resume;       /* opt.resume was made absolute here (owned) */
  struct tl_swap *swap; /* SIGHUP hot swap (swap.c; owned) */
  struct tl_dashboard *dashboard; /* --dashboard (dashboard.c; owned) */
} tl_engine;

double tl_engine_now(tl_engine *e); /* loop clock, seconds */
void tl_engine_kick(tl_engine *e);  /* ask for a scheduling pass soon */
void tl_engine_schedule(tl_engine *e); /* a scheduling pass now */
/* A Lua error in a callback: no new trial starts, running ones are stopped; takes err. */
void tl_engine_script_error(tl_engine *e, char *err);
int tl_engine_run(tl_options *opt); /* whole `tunelua run`; returns the exit code */

#endif
