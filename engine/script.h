/* The only bridge between the engine and Lua (the only file that includes lua.h).
 * Each function runs one protected call into lua/tunelua/runner.lua with a traceback
 * handler; failures come back as owned strings in *err. */
#ifndef TL_SCRIPT_H
#define TL_SCRIPT_H

#include <cjson/cJSON.h>

struct tl_engine;
typedef struct tl_script tl_script;

tl_script *tl_script_new(const char *lua_dir, char **err);
void tl_script_free(tl_script *s);
/* Runs the experiment file and fills the engine's experiment fields. */
int tl_script_load(tl_script *s, struct tl_engine *e, char **err);
/* Builds the scheduler and searcher (after the experiment directory exists). */
int tl_script_start(tl_script *s, struct tl_engine *e, char **err);
/* Asks the scheduler (then the searcher) for a trial to run: *index is 0-based or -1; *wait is
 * set when the searcher asked to wait for results; *count is how many trials Lua holds (the
 * engine adds records for the ones it has not seen). */
int tl_script_next(tl_script *s, int *index, int *wait, int *count, char **err);
/* The id and config of a trial the Lua side created; both owned by the caller. */
int tl_script_trial(tl_script *s, int index, char **id, cJSON **config, char **err);
int tl_script_status(tl_script *s, int index, const char *status, long iteration, char **err);
/* Hands a result to the stop rule, the scheduler and the searcher; *action is a static string
 * ("continue", "stop", "pause", "exploit"); *by_rule is 1 when the experiment's stop rule
 * decided rather than the scheduler, 2 when its budget is spent (tl_script_budget_spent); for "exploit", *source is the trial whose checkpoint to
 * take, and the trial's config in Lua is the new one (read it with tl_script_trial). */
int tl_script_result(tl_script *s, int index, const cJSON *result, const char **action,
                     int *checkpoint, int *by_rule, int *source, char **err);
/* Tells the trial's view about its newest recorded checkpoint. */
int tl_script_checkpoint(tl_script *s, int index, const char *path, long iteration, char **err);
/* The simulate executor: the cost of the trial's next iteration, at its start; then each
 * result (an owned cJSON object), the cost of the iteration after it, and whether the
 * simulated trainer ended by itself. */
int tl_script_sim_start(tl_script *s, int index, double *cost, char **err);
int tl_script_simulate(tl_script *s, int index, cJSON **result, double *cost, int *done,
                       char **err);
/* Resume (journal replay into a fresh scheduler and searcher). */
int tl_script_replay_add(tl_script *s, const char *id, const cJSON *config, char **err);
int tl_script_replay_result(tl_script *s, int index, const cJSON *result, char **err);
int tl_script_set_config(tl_script *s, int index, const cJSON *config, char **err);
/* exp.replaying for schedulers and searchers (resume sets it for the whole replay). */
void tl_script_replaying(tl_script *s, int on);
/* Hot swap (engine/swap.c): build the new scheduler, replay journal lines into it, install it
 * (ok) or drop it. */
int tl_script_swap_begin(tl_script *s, const char *dir, char **name, char **source, char **file,
                         char **err);
int tl_script_swap_event(tl_script *s, const cJSON *ev, char **err);
int tl_script_swap_finish(tl_script *s, int ok, char **err);
/* Trials a scheduler ended with exp.stop_trial (not running ones); arrays owned by the caller. */
/* Why the experiment ends early once its budget is spent ("the experiment's budget is spent
 * (300 results)"), owned by the caller; NULL while it is not (or there is none). */
char *tl_script_budget_spent(tl_script *s);
/* Resume: secs of wall time the earlier runs used count against a time budget. */
int tl_script_budget_resume(tl_script *s, double secs, char **err);
int tl_script_take_stops(tl_script *s, int **index, char ***reason, int *n, char **err);
int tl_script_complete(tl_script *s, int index, int ok, char **err);
/* What the trial asks for (trainer.resources, a table or a function of its config): 0 with
 * *rq filled (free it with tl_request_free), 1 when the request is unusable (*err says why:
 * the trial fails), -1 on a Lua error. */
struct tl_request;
int tl_script_resources(tl_script *s, int index, struct tl_request *rq, char **err);
/* Runs require(module).main(argv as a list) in a fresh Lua state (a command written in Lua,
 * such as `tunelua compare`); returns the exit code main returns. */
int tl_script_main(const char *module, const char *lua_dir, int argc, char **argv);

#endif
