#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

int tl_journal_open(tl_journal *j, const char *path, const char **err) {
  memset(j, 0, sizeof *j);
  tl_buf_init(&j->line);
  tl_buf_init(&j->pending);
  j->fsync = TL_FSYNC_ALWAYS; /* until tl_journal_sync_mode */
  j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (j->fd < 0) {
    *err = strerror(errno);
    return -1;
  }
  return 0;
}

void tl_journal_close(tl_journal *j) {
  if (j->pending.len && !j->failed && !j->mute) tl_write_all(j->fd, j->pending.data, j->pending.len);
  tl_buf_free(&j->pending);
  if (j->fd >= 0) {
    if (j->fsync != TL_FSYNC_NEVER) fdatasync(j->fd);
    close(j->fd);
  }
  j->fd = -1;
  tl_buf_free(&j->line);
  free(j->waiters);
  j->waiters = NULL;
  j->nwaiters = 0;
}

tl_buf *tl_journal_begin(tl_journal *j, const char *ev, const char *trial) {
  tl_buf_reset(&j->line);
  tl_buf_adds(&j->line, "{\"ev\":");
  tl_buf_add_json_str(&j->line, ev);
  struct timeval tv; /* ,"t":%.6f of the Unix time, without printf */
  gettimeofday(&tv, NULL);
  char t[48], *p = t + sizeof t;
  long us = (long)tv.tv_usec;
  for (int i = 0; i < 6; i++, us /= 10) *--p = (char)('0' + us % 10);
  *--p = '.';
  unsigned long sec = (unsigned long)tv.tv_sec;
  do *--p = (char)('0' + sec % 10); while (sec /= 10);
  tl_buf_add(&j->line, ",\"t\":", 5);
  tl_buf_add(&j->line, p, (size_t)(t + sizeof t - p));
  if (trial) {
    tl_buf_adds(&j->line, ",\"trial\":");
    tl_buf_add_json_str(&j->line, trial);
  }
  return &j->line;
}

/* Writes the pending lines with one write(2): O_APPEND keeps them whole even if the engine
 * dies between two turns. */
static int write_pending(tl_journal *j) {
  if (j->pending.len == 0) return j->failed ? -1 : 0;
  int rc = j->failed ? -1 : tl_write_all(j->fd, j->pending.data, j->pending.len);
  tl_buf_reset(&j->pending);
  if (rc != 0) {
    if (!j->failed) j->error = strerror(-rc);
    j->failed = 1;
    return -1;
  }
  j->flushed = j->written;
  return 0;
}

static void on_check(uv_check_t *h) {
  tl_journal *j = h->data;
  uv_check_stop(h);
  j->check_armed = 0;
  tl_journal_flush(j);
}

int tl_journal_end(tl_journal *j) {
  tl_buf_add(&j->line, "}\n", 2);
  if (j->mute) return 0;
  if (j->failed) return -1;
  tl_buf_add(&j->pending, j->line.data, j->line.len);
  j->lines++;
  j->written++;
  if (j->hold > 0 && j->loop && !j->detached) {
    if (!j->check_init) {
      uv_check_init(j->loop, &j->check);
      j->check.data = j;
      j->check_init = 1;
    }
    if (!j->check_armed) {
      uv_check_start(&j->check, on_check);
      j->check_armed = 1;
    }
    return 0;
  }
  return write_pending(j);
}

void tl_journal_hold(tl_journal *j) { j->hold++; }
void tl_journal_release(tl_journal *j) { j->hold--; }

static void start_sync(tl_journal *j);
static void answer(tl_journal *j);

static void sync_work(uv_work_t *w) {
  tl_journal *j = w->data;
  j->sync_err = fdatasync(j->fd) == 0 ? 0 : errno;
}

/* Back on the loop thread: every waiter whose lines are now durable gets its call. */
static void sync_done(uv_work_t *w, int status) {
  tl_journal *j = w->data;
  j->syncing = 0;
  j->syncs++;
  int ok = status == 0 && j->sync_err == 0;
  if (!ok && !j->failed) {
    j->failed = 1;
    j->error = strerror(j->sync_err ? j->sync_err : EIO);
  }
  if (ok) j->synced = j->syncing_upto;
  answer(j);
  if (j->nwaiters > 0) start_sync(j); /* lines written during this one */
}

static void start_sync(tl_journal *j) {
  if (j->syncing || j->synced >= j->flushed) return;
  j->syncing = 1;
  j->syncing_upto = j->flushed;
  j->work.data = j;
  if (uv_queue_work(j->loop, &j->work, sync_work, sync_done) != 0) {
    j->syncing = 0;
    j->sync_err = EIO;
    sync_done(&j->work, -1);
  }
}

/* Answers every waiter whose lines are written (no fsync) or durable; all of them with ok = 0
 * once the journal failed. */
static void answer(tl_journal *j) {
  unsigned long upto = j->fsync == TL_FSYNC_ALWAYS ? j->synced : j->flushed;
  int keep = 0, ok = !j->failed;
  for (int i = 0; i < j->nwaiters; i++) {
    tl_journal_waiter w = j->waiters[i];
    if (!ok || w.seq <= upto)
      w.cb(w.ud, ok);
    else
      j->waiters[keep++] = w;
  }
  j->nwaiters = keep;
}

void tl_journal_flush(tl_journal *j) {
  write_pending(j);
  if (j->fsync == TL_FSYNC_ALWAYS && !j->failed && j->loop) {
    if (j->nwaiters) start_sync(j);
  } else {
    answer(j);
  }
}

void tl_journal_detach(tl_journal *j) {
  tl_journal_flush(j);
  if (j->timer_init) {
    uv_timer_stop(&j->sync_timer);
    uv_close((uv_handle_t *)&j->sync_timer, NULL);
    j->timer_init = 0;
  }
  if (j->check_init) {
    uv_check_stop(&j->check);
    uv_close((uv_handle_t *)&j->check, NULL);
    j->check_init = j->check_armed = 0;
  }
  j->detached = 1; /* from now on every line is written at once */
}

static void on_sync_timer(uv_timer_t *t) {
  tl_journal *j = t->data;
  if (!j->failed) start_sync(j); /* a no-op when nothing is unsynced or a sync runs */
}

void tl_journal_sync_mode(tl_journal *j, uv_loop_t *loop, int mode, unsigned period_ms) {
  j->loop = loop;
  j->fsync = mode;
  if (mode == TL_FSYNC_PERIODIC && loop && !j->timer_init) {
    uv_timer_init(loop, &j->sync_timer);
    j->sync_timer.data = j;
    uv_timer_start(&j->sync_timer, on_sync_timer, period_ms, period_ms);
    uv_unref((uv_handle_t *)&j->sync_timer); /* never keeps the loop alive */
    j->timer_init = 1;
  }
}

void tl_journal_after(tl_journal *j, tl_journal_cb cb, void *ud) {
  int all = j->fsync == TL_FSYNC_ALWAYS && j->loop ? j->synced >= j->written : j->flushed >= j->written;
  if (all || j->failed || !j->loop) {
    cb(ud, !j->failed);
    return;
  }
  if (j->nwaiters == j->capwaiters) {
    j->capwaiters = j->capwaiters ? j->capwaiters * 2 : 64;
    j->waiters = tl_xrealloc(j->waiters, (size_t)j->capwaiters * sizeof *j->waiters);
  }
  j->waiters[j->nwaiters++] = (tl_journal_waiter){j->written, cb, ud};
  if (j->fsync == TL_FSYNC_ALWAYS && j->flushed >= j->written) start_sync(j); /* else: after the turn's write */
}

long tl_journal_repair(const char *path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  off_t end = st.st_size, keep = end;
  char c;
  /* walk back to the last newline: what follows it is a line the engine never finished */
  while (keep > 0 && pread(fd, &c, 1, keep - 1) == 1 && c != '\n') keep--;
  long cut = (long)(end - keep);
  if (cut > 0 && ftruncate(fd, keep) != 0) cut = -errno;
  close(fd);
  return cut;
}
