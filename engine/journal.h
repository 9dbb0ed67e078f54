/* The experiment's append-only event log (journal.jsonl): one JSON object per line.
 *
 * Lines are written at once (write(2), so they survive the engine's death) before anything
 * they record is acknowledged. fdatasync runs on libuv's thread pool, in one of three modes:
 * - TL_FSYNC_PERIODIC (the default): once a second while lines are unsynced, and at close;
 *   a reply waits only for the write, so a power loss may lose the last second;
 * - TL_FSYNC_ALWAYS: group commit. A reply that acknowledges a result waits, with
 *   tl_journal_after, until everything written before it is durable; all the replies that
 *   arrive during one fdatasync share the next;
 * - TL_FSYNC_NEVER: not even at close.
 *
 * Lines ended while the journal is held (tl_journal_hold: the results of one loop turn) are
 * kept in `pending` and written together by one write(2) in the loop's check phase, at the
 * end of the turn, or before any line that is not held; the replies waiting on them are
 * sent only after that write (and, with fsync, after the fdatasync that covers it). */
#ifndef TL_JOURNAL_H
#define TL_JOURNAL_H

#include <uv.h>

#include "util.h"

typedef void (*tl_journal_cb)(void *ud, int ok);

enum { TL_FSYNC_PERIODIC = 0, TL_FSYNC_ALWAYS = 1, TL_FSYNC_NEVER = 2 }; /* 0: the default */
#define TL_FSYNC_PERIOD_MS 1000

typedef struct {
  unsigned long seq; /* durable once synced >= seq */
  tl_journal_cb cb;
  void *ud;
} tl_journal_waiter;

typedef struct tl_journal {
  int fd;
  long lines;
  int failed;     /* a write failed; the experiment must stop */
  const char *error; /* static text (strerror) */
  tl_buf line;    /* reused line builder */
  tl_buf pending; /* ended lines not yet written (held) */
  int hold;       /* > 0: lines ended now may wait for the end of the loop turn */
  uv_check_t check; /* writes pending lines at the end of the turn */
  int check_init, check_armed, detached;
  int fsync;      /* TL_FSYNC_*: when lines are synced (--fsync) */
  uv_timer_t sync_timer; /* TL_FSYNC_PERIODIC */
  int timer_init;
  int mute;       /* replaying the journal into a fresh engine: write nothing */
  uv_loop_t *loop;
  uv_work_t work;
  int syncing;
  int sync_err;   /* errno of the last fdatasync, from the worker */
  unsigned long written, flushed, synced, syncing_upto; /* line counts */
  unsigned long syncs; /* fdatasync calls, for the benchmarks */
  tl_journal_waiter *waiters;
  int nwaiters, capwaiters;
} tl_journal;

int tl_journal_open(tl_journal *j, const char *path, const char **err);
void tl_journal_close(tl_journal *j);
/* Starts a line {"ev":EV,"t":WALL[,"trial":ID] ... ; add fields with tl_buf_* on j->line,
 * each beginning with a comma, then tl_journal_end writes it. */
tl_buf *tl_journal_begin(tl_journal *j, const char *ev, const char *trial);
int tl_journal_end(tl_journal *j);
/* Sets the loop the syncs run on and the TL_FSYNC_* mode (before the first line);
 * TL_FSYNC_PERIODIC syncs every period_ms (TL_FSYNC_PERIOD_MS) while lines are unsynced. */
void tl_journal_sync_mode(tl_journal *j, uv_loop_t *loop, int mode, unsigned period_ms);
/* Calls cb(ud, ok) once every line ended so far is written (TL_FSYNC_ALWAYS: on disk). */
void tl_journal_after(tl_journal *j, tl_journal_cb cb, void *ud);
/* Lines ended between hold and release may be written at the end of the loop turn. */
void tl_journal_hold(tl_journal *j);
void tl_journal_release(tl_journal *j);
/* Writes the pending lines now and answers the waiters it can. */
void tl_journal_flush(tl_journal *j);
/* Before the loop ends: pending lines written, the check handle closed. */
void tl_journal_detach(tl_journal *j);
/* Cuts a torn last line (a write the engine did not finish) off the file; returns the
 * number of bytes cut, or -errno. */
long tl_journal_repair(const char *path);

#endif
