/* `tunelua status DIR` and `tunelua summary DIR`: the state of an experiment, running or
 * not, from another process; and the lock file by which they tell whether its engine lives. */
#ifndef TL_STATUS_H
#define TL_STATUS_H

/* Takes DIR/engine.lock (flock, held until tl_status_unlock or the process dies, so a
 * kill -9 frees it) and writes the engine's pid in it. Fails when another live engine holds
 * it (*err, owned, says which). Does nothing when this process holds one already. */
int tl_status_lock(const char *dir, char **err);
/* Removes engine.lock and lets it go (a normal end). Does nothing when not locked. */
void tl_status_unlock(void);
/* `tunelua status DIR [--json]` (summary = 0) and `tunelua summary DIR [--json]`. */
int tl_status_main(int argc, char **argv, int summary);

#endif
