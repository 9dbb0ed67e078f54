/* The local executor: each trial is a child process in its own process group. */
#ifndef TL_EXEC_LOCAL_H
#define TL_EXEC_LOCAL_H

#include "engine.h"

/* Spawns the trainer with the environment contract of DESIGN.md; *err is owned. */
int tl_exec_spawn(tl_engine *e, tl_trial *t, char **err);
/* The trial's stdin (/dev/null), stdout.log, stderr.log; 0, or -1 with *err set. */
int tl_exec_stdio(tl_trial *t, int fds[3], char **err);
/* The trial's environment (DESIGN.md's contract), owned; tl_strv_free frees it. */
char **tl_exec_env(tl_engine *e, tl_trial *t);
/* Signals the trial's whole process group. */
void tl_exec_signal(tl_trial *t, int sig);

#endif
