#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tl_journal_open(tl_journal *j, const char *path, const char **err) {
  memset(j, 0, sizeof *j);
  tl_buf_init(&j->line);
  j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (j->fd < 0) {
    *err = strerror(errno);
    return -1;
  }
  return 0;
}

void tl_journal_close(tl_journal *j) {
  if (j->fd >= 0) close(j->fd);
  j->fd = -1;
  tl_buf_free(&j->line);
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
 * two events; fsync batching belongs to the durability work. */
int tl_journal_end(tl_journal *j) {
  tl_buf_add(&j->line, "}\n", 2);
  if (j->failed) return -1;
  int rc = tl_write_all(j->fd, j->line.data, j->line.len);
  if (rc != 0) {
    j->failed = 1;
    j->error = strerror(-rc);
    return -1;
  }
  j->lines++;
  return 0;
}
