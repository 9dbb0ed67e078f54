/* Buffered append-only files: a trial's logs (result.jsonl, progress.csv, and any other per
 * result file). A line added is kept in memory and written with the others at the latest on
 * the engine's next tick (tl_out_flush_all, every second), at 64 KiB, or when the file is
 * flushed or closed (the trial's run ends), so one write(2) carries many results. The journal
 * is the record that must be on disk before a result is acknowledged; these files follow it,
 * and a resume after a crash completes them from the journal (resume.c), events files too. */
#ifndef TL_OUTBUF_H
#define TL_OUTBUF_H

#include <stddef.h>
#include <uv.h>

#include "util.h"

/* fd: TL_OUT_PENDING while a thread-pool job opens the file (tl_out_open_bg) */
#define TL_OUT_PENDING (-2)

typedef struct tl_out {
  int fd;     /* -1: closed (data added then is dropped); TL_OUT_PENDING: being opened */
  int queued; /* 1 + its index in the list of outputs with bytes waiting; 0: not there */
  tl_buf buf; /* bytes not yet written */
} tl_out;

void tl_out_init(tl_out *o);
/* Opens path for appending (created 0644); 0 or -errno. */
int tl_out_open(tl_out *o, const char *path);
/* Opens n files (at most 4) for appending with one job on the loop's thread pool, so that
 * creating them (an inode each: on a busy file system, milliseconds) keeps neither the loop
 * nor a trainer waiting: outs[i] gets paths[i] (malloc'd; taken), and headers[i] (when
 * headers is not NULL; its bytes are taken, the buffer left empty) is written first if the
 * file is new. Lines added meanwhile wait in the buffer; whatever needs a file before the job
 * is done (a flush, a close, tl_out_fd) waits for it if it is running, or, if it has not
 * begun, opens the batch's files on the spot. loop NULL: they are opened here and now. */
void tl_out_open_bg(uv_loop_t *loop, int n, tl_out **outs, char **paths, tl_buf *headers);
/* Open, or being opened: lines added are kept. */
int tl_out_is_open(const tl_out *o);
/* The fd, once any open in the background is settled (-1: closed). */
int tl_out_fd(tl_out *o);
/* Takes an fd opened elsewhere (-1: stays closed); closing the tl_out closes it. */
void tl_out_adopt(tl_out *o, int fd);
void tl_out_add(tl_out *o, const char *data, size_t len);
/* Writes what waits; 0 or -errno (the bytes are dropped either way). */
int tl_out_flush(tl_out *o);
/* Drops what waits without writing it (the file is about to be rewritten). */
void tl_out_discard(tl_out *o);
/* Flushes, closes and releases the buffer; the tl_out can be opened again. */
void tl_out_close(tl_out *o);
void tl_out_flush_all(void);

#endif
