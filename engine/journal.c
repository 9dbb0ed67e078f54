#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tl_journal_open(tl_journal *j, const char *path, const char **err) {
  memset(j, 0, sizeof *j);
  tl_buf_init(&j->line);
  j->fsync = 1;
  j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (j->fd < 0) {
    *err = strerror(errno);
    return -1;
  }
  return 0;
}

void tl_journal_close(tl_journal *j) {
  if (j->fd >= 0) {
    if (j->fsync) fdatasync(j->fd);
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
  tl_buf_printf(&j->line, ",\"t\":%.6f", tl_wallclock());
  if (trial) {
    tl_buf_adds(&j->line, ",\"trial\":");
    tl_buf_add_json_str(&j->line, trial);
  }
  return &j->line;
}

/* One write(2) per line with O_APPEND keeps lines whole even if the engine dies between
 * two events. */
int tl_journal_end(tl_journal *j) {
  tl_buf_add(&j->line, "}\n", 2);
  if (j->mute) return 0;
  if (j->failed) return -1;
  int rc = tl_write_all(j->fd, j->line.data, j->line.len);
  if (rc != 0) {
    j->failed = 1;
    j->error = strerror(-rc);
    return -1;
  }
  j->lines++;
  j->written++;
  return 0;
}

static void start_sync(tl_journal *j);

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
  int keep = 0;
  for (int i = 0; i < j->nwaiters; i++) {
    tl_journal_waiter w = j->waiters[i];
    if (!ok || w.seq <= j->synced)
      w.cb(w.ud, ok);
    else
      j->waiters[keep++] = w;
  }
  j->nwaiters = keep;
  if (keep > 0) start_sync(j);
}

static void start_sync(tl_journal *j) {
  if (j->syncing) return;
  j->syncing = 1;
  j->syncing_upto = j->written;
  j->work.data = j;
  if (uv_queue_work(j->loop, &j->work, sync_work, sync_done) != 0) {
    j->syncing = 0;
    j->sync_err = EIO;
    sync_done(&j->work, -1);
  }
}

void tl_journal_after(tl_journal *j, tl_journal_cb cb, void *ud) {
  if (!j->fsync || !j->loop || j->synced >= j->written) {
    cb(ud, !j->failed);
    return;
  }
  if (j->nwaiters == j->capwaiters) {
    j->capwaiters = j->capwaiters ? j->capwaiters * 2 : 64;
    j->waiters = tl_xrealloc(j->waiters, (size_t)j->capwaiters * sizeof *j->waiters);
  }
  j->waiters[j->nwaiters++] = (tl_journal_waiter){j->written, cb, ud};
  start_sync(j);
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
