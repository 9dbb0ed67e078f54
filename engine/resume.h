/* tunelua resume DIR: rebuilds the engine's and Lua's state by replaying journal.jsonl into
 * fresh trial records, scheduler and searcher, then carries on. */
#ifndef TL_RESUME_H
#define TL_RESUME_H

#include "engine.h"

/* Reads the experiment line of DIR/journal.jsonl into the options (seed, working directory,
 * the run's command-line choices, unless given again); cuts a torn last line. */
int tl_resume_prepare(tl_options *opt, char **cwd, char **err);
/* Replays every event into the engine (the journal muted meanwhile). */
int tl_resume_replay(tl_engine *e, char **err);
/* After the replay: trials that were running get going again. */
void tl_resume_running(tl_engine *e);

#endif
