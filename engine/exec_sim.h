/* The simulate executor: trainers are Lua functions of the experiment, each result costs a
 * virtual time, and the loop runs on a virtual clock (no sleeping) through the same trial,
 * journal and scheduler code as real trials. Deterministic for a seed. */
#ifndef TL_EXEC_SIM_H
#define TL_EXEC_SIM_H

#include "engine.h"

int tl_sim_init(tl_engine *e);
/* Starts a trial: its first result is due after the cost of one iteration. */
int tl_sim_start(tl_engine *e, tl_trial *t, char **err);
/* Resume: a trial that was running goes on at its last result's instant plus one iteration. */
void tl_sim_resume(tl_engine *e, tl_trial *t);
void tl_sim_close(tl_engine *e); /* the idle handle, before the loop ends */
void tl_sim_free(tl_engine *e);

#endif
