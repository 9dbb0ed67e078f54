#include "outbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TL_OUT_MAX (64u << 10) /* bytes kept before a write */

/* Outputs with bytes to write (the loop is single-threaded); each knows its place, so that
 * leaving the list is a swap with the last. Two ints instead of two list pointers in every
 * tl_out: a trial has three, and a finished trial keeps them (B6, bytes per trial). */
static tl_out **waiting;
static int nwaiting, capwaiting;

static void unlink_out(tl_out *o) {
  if (!o->queued) return;
  int i = o->queued - 1;
  waiting[i] = waiting[--nwaiting];
  waiting[i]->queued = i + 1;
  o->queued = 0;
}

static void queue_out(tl_out *o) {
  if (o->queued) return;
  if (nwaiting == capwaiting) {
    capwaiting = capwaiting ? 2 * capwaiting : 64;
    waiting = tl_xrealloc(waiting, (size_t)capwaiting * sizeof *waiting);
  }
  waiting[nwaiting++] = o;
  o->queued = nwaiting;
}

void tl_out_init(tl_out *o) {
  o->fd = -1;
  o->queued = 0;
  tl_buf_init(&o->buf);
}

/* ---- opens on the thread pool ---- */

enum { BG_QUEUED, BG_RUNNING, BG_DONE, BG_TAKEN };
#define BG_MAX 4

typedef struct tl_out_bg {
  uv_work_t work;
  struct tl_out_bg *next; /* in the list of jobs not yet finished (the loop's side) */
  pthread_mutex_t mu;
  pthread_cond_t done;
  int state; /* under mu: the worker moves QUEUED -> RUNNING -> DONE; the loop QUEUED -> TAKEN */
  int n;
  struct {
    tl_out *out; /* NULL once settled: the tl_out has the fd (or opened the file itself) */
    char *path;
    tl_buf header;
    int fd;
  } f[BG_MAX];
} tl_out_bg;

static int open_append(const char *path, const tl_buf *header) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  struct stat st;
  if (fd >= 0 && header->len && fstat(fd, &st) == 0 && st.st_size == 0)
    tl_write_all(fd, header->data, header->len);
  return fd;
}

static void bg_work(uv_work_t *w) {
  tl_out_bg *b = w->data;
  pthread_mutex_lock(&b->mu);
  int mine = b->state == BG_QUEUED;
  if (mine) b->state = BG_RUNNING;
  pthread_mutex_unlock(&b->mu);
  if (!mine) return; /* the loop took it over before it started */
  for (int i = 0; i < b->n; i++) b->f[i].fd = open_append(b->f[i].path, &b->f[i].header);
  pthread_mutex_lock(&b->mu);
  b->state = BG_DONE;
  pthread_cond_signal(&b->done);
  pthread_mutex_unlock(&b->mu);
}

static tl_out_bg *jobs; /* the loop's list of jobs whose bg_after has not run */

/* On the loop: o gets its fd, from the worker (waited for if it is running) or, when the
 * worker has not begun, from opens done here (for every file of the batch at once). */
static void settle(tl_out *o) {
  if (o->fd != TL_OUT_PENDING) return;
  tl_out_bg *b;
  int k = -1;
  for (b = jobs; b; b = b->next) {
    for (int i = 0; i < b->n && k < 0; i++)
      if (b->f[i].out == o) k = i;
    if (k >= 0) break;
  }
  if (!b) { /* cannot happen: every pending tl_out is in a job */
    o->fd = -1;
    return;
  }
  pthread_mutex_lock(&b->mu);
  if (b->state == BG_QUEUED) b->state = BG_TAKEN;
  while (b->state == BG_RUNNING) pthread_cond_wait(&b->done, &b->mu);
  int taken = b->state == BG_TAKEN;
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < b->n; i++) {
    tl_out *x = b->f[i].out;
    if (!x || (!taken && i != k)) continue;
    x->fd = taken ? open_append(b->f[i].path, &b->f[i].header) : b->f[i].fd;
    b->f[i].out = NULL;
  }
}

static void bg_after(uv_work_t *w, int status) {
  (void)status;
  tl_out_bg *b = w->data;
  for (int i = 0; i < b->n; i++)
    if (b->f[i].out) settle(b->f[i].out); /* done: hands the fd over */
  for (tl_out_bg **p = &jobs; *p; p = &(*p)->next)
    if (*p == b) {
      *p = b->next;
      break;
    }
  for (int i = 0; i < b->n; i++) {
    free(b->f[i].path);
    tl_buf_free(&b->f[i].header);
  }
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->done);
  free(b);
}

void tl_out_open_bg(uv_loop_t *loop, int n, tl_out **outs, char **paths, tl_buf *headers) {
  tl_out_bg *b = tl_xcalloc(1, sizeof *b);
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->done, NULL);
  b->state = BG_QUEUED;
  b->n = n < BG_MAX ? n : BG_MAX;
  for (int i = 0; i < b->n; i++) {
    tl_out_close(outs[i]);
    b->f[i].out = outs[i];
    b->f[i].path = paths[i];
    b->f[i].fd = -1;
    tl_buf_init(&b->f[i].header);
    if (headers) b->f[i].header = headers[i], tl_buf_init(&headers[i]);
    outs[i]->fd = TL_OUT_PENDING;
  }
  b->next = jobs;
  jobs = b;
  b->work.data = b;
  if (!loop || uv_queue_work(loop, &b->work, bg_work, bg_after) != 0) {
    if (b->n) settle(outs[0]); /* opens them all here */
    bg_after(&b->work, 0);
  }
}

int tl_out_is_open(const tl_out *o) {
  return o->fd >= 0 || o->fd == TL_OUT_PENDING;
}

int tl_out_fd(tl_out *o) {
  settle(o);
  return o->fd;
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
  if (!tl_out_is_open(o)) return;
  tl_buf_add(&o->buf, data, len);
  queue_out(o);
  if (o->buf.len >= TL_OUT_MAX) tl_out_flush(o);
}

int tl_out_flush(tl_out *o) {
  unlink_out(o);
  if (o->buf.len == 0) return 0;
  settle(o);
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
  settle(o); /* even with nothing to write: the file exists once its trial has run */
  tl_out_flush(o);
  tl_buf_free(&o->buf);
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
}

void tl_out_flush_all(void) {
  while (nwaiting) tl_out_flush(waiting[nwaiting - 1]);
}
