/* Hot swap: SIGHUP (or TUNELUA_SWAP_AT) replaces the scheduler mid-run with one built from
 * DIR/swap.lua (or read again from where the current one came from), after replaying the
 * journal into it; `tunelua resume DIR --scheduler X` is recorded the same way, and a resume
 * rebuilds the scheduler of the last swap. docs/usage.md, "Hot swap". */
#ifndef TL_SWAP_H
#define TL_SWAP_H

#include "engine.h"

/* SIGHUP handler and the TUNELUA_SWAP_AT hook (a comma-separated list of result counts). */
void tl_swap_init(tl_engine *e);
void tl_swap_close(tl_engine *e); /* closes the signal handle (the loop is ending) */
void tl_swap_free(tl_engine *e);
/* After a result has been handled: swaps if TUNELUA_SWAP_AT names this result count. */
void tl_swap_after_result(tl_engine *e);
/* Swaps now; trigger names what asked ("SIGHUP"). Returns 0, or -1 when the swap failed: a
 * warning is printed and journaled, the old scheduler stays. */
int tl_swap_now(tl_engine *e, const char *trigger);
/* Resume, before the experiment is loaded: a --scheduler given again is copied (a file) and
 * noted for the journal; without one, the scheduler of the journal's last swap is used. */
void tl_swap_resume_prepare(tl_options *opt);
/* Resume, after the replay: journals the swap that --scheduler made, if any. */
void tl_swap_resume_journal(tl_engine *e);

#endif
