/* Trials: records, the state machine, results and their files, summary.json. */
#ifndef TL_TRIAL_H
#define TL_TRIAL_H

#include "engine.h"

/* Takes ownership of id and config; creates trials/<id>/ and journals the addition. */
tl_trial *tl_trial_add(tl_engine *e, char *id, cJSON *config);
/* Starts making spare trial directories on the thread pool, up to as many as trials have run
 * at once (not under simulate); tl_trial_add takes a ready one instead of making its own. */
void tl_trial_spare_make(tl_engine *e);
/* Removes the spares (the experiment is over); one still being made goes when it is done. */
void tl_trial_spare_drop(tl_engine *e);
tl_trial *tl_trial_find(tl_engine *e, const char *id);
void tl_trial_free(tl_trial *t);
/* Moves a trial to a new state: counts, journal, the Lua view. reason may be NULL. */
void tl_trial_set_status(tl_engine *e, tl_trial *t, tl_status s, const char *reason);
/* Starts (or restarts) a PENDING or PAUSED trial's process, or fails it at once when it can
 * never run. Returns 1 when it does not fit now (left as it is), else 0. */
int tl_trial_start(tl_engine *e, tl_trial *t);
/* A result from the trainer: engine fields, files, journal, stop rule, scheduler. Takes
 * ownership of metrics; returns the action ("continue", "stop", "pause"). */
const char *tl_trial_report(tl_engine *e, tl_trial *t, cJSON *metrics, int *checkpoint);
/* The newest recorded checkpoint (absolute path) or NULL. */
const char *tl_trial_latest_checkpoint(const tl_trial *t);
/* Records a checkpoint directory the trainer wrote: checked (inside the trial's directory,
 * a directory), renamed to checkpoints/checkpoint_<iteration>, journaled, retention applied.
 * *final (owned) is its new path; on failure *err (owned) says why. */
int tl_trial_checkpoint(tl_engine *e, tl_trial *t, const char *path, char **final, char **err);
/* Ask a running trial to end (stop or pause): after stop_grace_s SIGTERM, then SIGKILL. */
void tl_trial_ask(tl_engine *e, tl_trial *t, tl_ask ask, double grace);
/* The engine fails a running trial (protocol error): recorded, process group killed. */
void tl_trial_fail(tl_engine *e, tl_trial *t, const char *why);
/* Remembers something that explains a later failure and appends it to stderr.log. */
void tl_trial_note(tl_engine *e, tl_trial *t, const char *note);
/* The process exited; the trial's new state is decided once its connection has drained. */
void tl_trial_exited(tl_engine *e, tl_trial *t, int64_t status, int sig);
void tl_trial_conn_closed(tl_engine *e, tl_trial *t);
/* The trial's run is over (process gone, or a simulated trial ended): resources back, and
 * its new state from what it was asked (t->ask), its failure (t->fail) or its exit status. */
void tl_trial_finish(tl_engine *e, tl_trial *t);
/* The metric of the trial's last result, when it has a finite one. */
int tl_trial_metric(tl_engine *e, const tl_trial *t, double *v);
/* Index of the best trial by its last result (mode/metric), or -1. */
int tl_trial_best(tl_engine *e, double *value);
int tl_summary_write(tl_engine *e, const char *status);
/* Resume: a recorded checkpoint directory, the best result, the trial's files after a crash. */
void tl_trial_add_checkpoint(tl_engine *e, tl_trial *t, char *path, const cJSON *result);
/* The trial's last result (NULL none) and config. A TERMINATED trial keeps them and its best
 * result as text; these read them back into last_result, best_result and config. Every
 * change of status but to TERMINATED does it too: other states have the objects. */
cJSON *tl_trial_last(tl_trial *t);
cJSON *tl_trial_config(tl_trial *t);
/* The trial's new last result (takes ownership); its best result follows (may share it). */
void tl_trial_set_last(tl_engine *e, tl_trial *t, cJSON *result);
void tl_trial_files_repair(tl_trial *t);
/* Flattens nested objects into "a/b" keys, as progress.csv columns. */
typedef void (*tl_flat_fn)(void *ud, const char *key, const cJSON *v);
void tl_json_flatten(const cJSON *obj, tl_buf *prefix, tl_flat_fn fn, void *ud);

#endif
