#include "outbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define TL_OUT_MAX (64u << 10) /* bytes kept before a write */

static tl_out *waiting; /* outputs with bytes to write (the loop is single-threaded) */

static void unlink_out(tl_out *o) {
  if (!o->pprev) return;
  *o->pprev = o->next;
  if (o->next) o->next->pprev = o->pprev;
  o->next = NULL, o->pprev = NULL;
}

void tl_out_init(tl_out *o) {
  o->fd = -1;
  tl_buf_init(&o->buf);
  o->next = NULL, o->pprev = NULL;
}

int tl_out_open(tl_out *o, const char *path) {
  tl_out_close(o);
  o->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  return o->fd >= 0 ? 0 : -errno;
}

void tl_out_adopt(tl_out *o, int fd) {
  tl_out_close(o);
  o->fd = fd;
}

void tl_out_add(tl_out *o, const char *data, size_t len) {
  if (o->fd < 0) return;
  tl_buf_add(&o->buf, data, len);
  if (!o->pprev) {
    o->next = waiting;
    if (waiting) waiting->pprev = &o->next;
    waiting = o;
    o->pprev = &waiting;
  }
  if (o->buf.len >= TL_OUT_MAX) tl_out_flush(o);
}

int tl_out_flush(tl_out *o) {
  unlink_out(o);
  if (o->buf.len == 0) return 0;
  int rc = o->fd >= 0 ? tl_write_all(o->fd, o->buf.data, o->buf.len) : 0;
  o->buf.len = 0;
  if (o->buf.cap > 2 * TL_OUT_MAX) tl_buf_free(&o->buf); /* give back what a burst took */
  return rc;
}

void tl_out_discard(tl_out *o) {
  unlink_out(o);
  o->buf.len = 0;
}

void tl_out_close(tl_out *o) {
  tl_out_flush(o);
  tl_buf_free(&o->buf);
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
}

void tl_out_flush_all(void) {
  while (waiting) tl_out_flush(waiting);
}
