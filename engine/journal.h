/* The experiment's append-only event log (journal.jsonl): one JSON object per line.
 *
 * Group commit: lines are written at once (write(2), so they survive the engine's death),
 * and fdatasync runs on libuv's thread pool. A reply that acknowledges a result waits, with
 * tl_journal_after, until everything written before it is durable; all the replies that
 * arrive during one fdatasync share the next. */
#ifndef TL_JOURNAL_H
#define TL_JOURNAL_H

#include <uv.h>

#include "util.h"

typedef void (*tl_journal_cb)(void *ud, int ok);

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
  int fsync;      /* 0: acknowledge without waiting for the disk (--no-fsync) */
  int mute;       /* replaying the journal into a fresh engine: write nothing */
  uv_loop_t *loop;
  uv_work_t work;
  int syncing;
  int sync_err;   /* errno of the last fdatasync, from the worker */
  unsigned long written, synced, syncing_upto;
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
/* Calls cb(ud, ok) once every line written so far is on disk (at once without fsync). */
void tl_journal_after(tl_journal *j, tl_journal_cb cb, void *ud);
/* Cuts a torn last line (a write the engine did not finish) off the file; returns the
 * number of bytes cut, or -errno. */
long tl_journal_repair(const char *path);

#endif
