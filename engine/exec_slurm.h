/* The slurm executor: each trial is an srun step (inside an allocation, packed into it with
 * --exclusive; outside one, a job of its own); trainers connect back over TCP with the token.
 * A step that dies with its node is retried from its last checkpoint without counting as a
 * failure of the trainer. docs/cluster.md describes it for users. */
#ifndef TL_EXEC_SLURM_H
#define TL_EXEC_SLURM_H

#include "engine.h"
#include "resources.h"

/* From the experiment (tune.slurm settings as srun arguments; --address or address=);
 * takes both. Makes e->slurm. */
void tl_slurm_configure(tl_engine *e, char **args, char *address);
/* Before the first trial: finds srun, picks the address trainers connect back to, listens
 * there, marks the experiment directory (the nodes check that they see it) and, with no
 * max_concurrent given, caps running trials at what the allocation or partition holds. */
int tl_slurm_init(tl_engine *e, char **err);
/* "HOST:PORT" trainers connect to (TUNELUA_CONNECT=tcp:...). */
const char *tl_slurm_connect(const tl_engine *e);
/* Takes the trial's request (Slurm places it; the engine only counts). Always 1. */
int tl_slurm_place(tl_engine *e, tl_trial *t, const tl_request *rq);
int tl_slurm_spawn(tl_engine *e, tl_trial *t, char **err);
/* SIGTERM: srun ends the step (Slurm's TERM, KillWait, KILL); SIGKILL: srun is killed and
 * the step cancelled with scancel. */
void tl_slurm_signal(tl_engine *e, tl_trial *t, int sig);
void tl_slurm_close(tl_engine *e); /* the listener, when the experiment ends */
void tl_slurm_trial_free(tl_trial *t);
void tl_slurm_free(tl_engine *e);

/* The srun command line of one run (exposed for tests): srun, the settings (inside an
 * allocation only those that apply to steps), the request as -N/-n/-c/--gres/--mem, then
 * /bin/sh -c WRAPPER with the marker, exit and step files and the trainer's argv. Owned
 * strings in an owned NULL-terminated array (tl_strv_free). */
char **tl_slurm_argv(char *const *settings, int in_alloc, const tl_request *rq, const char *name,
                     const char *marker, const char *exit_file, const char *step_file,
                     char *const *cmd);

#endif
