#include "proto.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swap.h"
#include "trial.h"

int tl_token_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char diff = (unsigned char)(la != lb);
  for (size_t i = 0; i < la && i < lb; i++) diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

static void conn_free(tl_conn *c) {
  free(c->buf);
  tl_buf_free(&c->reply);
  free(c);
}

static void on_close(uv_handle_t *h) {
  tl_conn *c = h->data;
  c->closed = 1;
  if (c->refs == 0) conn_free(c);
}

/* Connections without a hello yet, oldest last (the loop is single-threaded). */
static tl_conn *quiet;

static void quiet_add(tl_conn *c) {
  c->accepted_ms = uv_now(c->e->loop);
  c->quiet_next = quiet;
  if (quiet) quiet->quiet_prev = &c->quiet_next;
  quiet = c;
  c->quiet_prev = &quiet;
}

static void quiet_remove(tl_conn *c) {
  if (!c->quiet_prev) return;
  *c->quiet_prev = c->quiet_next;
  if (c->quiet_next) c->quiet_next->quiet_prev = c->quiet_prev;
  c->quiet_next = NULL, c->quiet_prev = NULL;
}

void tl_proto_tick(tl_engine *e) {
  static double limit = -1;
  if (limit < 0) {
    const char *v = getenv("TUNELUA_HELLO_TIMEOUT_S");
    limit = v && *v && atof(v) > 0 ? atof(v) : TL_HELLO_TIMEOUT_S;
  }
  uint64_t now = uv_now(e->loop);
  for (tl_conn *c = quiet, *next; c; c = next) {
    next = c->quiet_next;
    if ((double)(now - c->accepted_ms) >= limit * 1000) {
      char *why = tl_strfmt("no hello within %g s", limit);
      tl_proto_reject(c, why); /* closes it, which takes it off the list */
      free(why);
    }
  }
}

void tl_proto_close(tl_conn *c) {
  if (c->closing) return;
  quiet_remove(c);
  c->closing = 1;
  tl_trial *t = c->trial;
  if (t && t->conn == c) t->conn = NULL;
  c->trial = NULL;
  uv_close((uv_handle_t *)&c->pipe, on_close);
  if (t) tl_trial_conn_closed(c->e, t);
}

typedef struct {
  uv_write_t req;
  char data[];
} write_req;

static void on_write(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

/* Most replies fit the socket buffer at once; only a remainder is copied and queued. */
void tl_proto_send(tl_conn *c, const char *data, size_t len) {
  if (c->closing) return;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int n = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0
              ? uv_try_write((uv_stream_t *)&c->pipe, &b, 1)
              : UV_EAGAIN;
  if (n == (int)len) return;
  size_t done = n > 0 ? (size_t)n : 0;
  if (n < 0 && n != UV_EAGAIN) {
    tl_proto_close(c);
    return;
  }
  write_req *w = tl_xmalloc(sizeof *w + len - done);
  memcpy(w->data, data + done, len - done);
  uv_buf_t rest = uv_buf_init(w->data, (unsigned)(len - done));
  if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &rest, 1, on_write) != 0) {
    free(w);
    tl_proto_close(c);
  }
}

static void durable(void *ud, int ok) {
  tl_conn *c = ud;
  c->refs--;
  if (!c->closing) {
    if (ok)
      tl_proto_send(c, c->reply.data, c->reply.len);
    else
      tl_proto_reject(c, "the engine cannot write its journal; the result is not acknowledged");
  }
  tl_buf_reset(&c->reply);
  if (c->closed && c->refs == 0) conn_free(c);
}

void tl_proto_send_durable(tl_conn *c, const char *data, size_t len) {
  if (c->closing) return;
  tl_buf_add(&c->reply, data, len);
  c->refs++;
  tl_journal_after(&c->e->journal, durable, c);
}

void tl_proto_reject(tl_conn *c, const char *msg) {
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_adds(&b, "{\"type\":\"error\",\"message\":");
  tl_buf_add_json_str(&b, msg);
  tl_buf_adds(&b, "}\n");
  tl_proto_send(c, b.data, b.len);
  tl_buf_free(&b);
  tl_proto_close(c);
}

/* A bound trainer broke the protocol: its trial fails, the connection ends. */
static void trial_protocol_error(tl_conn *c, const char *msg) {
  tl_trial *t = c->trial;
  char *why = tl_strfmt("protocol error: %s", msg);
  if (t) tl_trial_fail(c->e, t, why);
  tl_proto_reject(c, why);
  free(why);
}

/* The welcome a trial's trainer gets (one JSON object, no newline), appended to b: at its
 * hello, and in its environment as TUNELUA_WELCOME (docs/protocol.md). */
void tl_proto_welcome(tl_engine *e, tl_trial *t, tl_buf *b) {
  tl_buf_adds(b, "{\"type\":\"welcome\",\"trial\":");
  tl_buf_add_json_str(b, t->id);
  char *cfg = tl_json_print(t->config);
  tl_buf_adds(b, ",\"config\":");
  tl_buf_adds(b, cfg);
  free(cfg);
  tl_buf_adds(b, ",\"restore\":");
  const char *restore = tl_trial_latest_checkpoint(t);
  if (restore) tl_buf_add_json_str(b, restore);
  else tl_buf_adds(b, "null");
  tl_buf_adds(b, ",\"trial_dir\":");
  tl_buf_add_json_str(b, t->dir);
  tl_buf_adds(b, ",\"shared\":{");
  for (char **s = e->shared; s && *s; s++) {
    char *eq = strchr(*s, '=');
    char *name = tl_strfmt("%.*s", (int)(eq - *s), *s);
    if (s != e->shared) tl_buf_addc(b, ',');
    tl_buf_add_json_str(b, name);
    tl_buf_addc(b, ':');
    tl_buf_add_json_str(b, eq + 1);
    free(name);
  }
  tl_buf_printf(b, "},\"iteration\":%ld}", t->iterations);
}

static void on_hello(tl_conn *c, cJSON *msg) {
  tl_engine *e = c->e;
  const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "token"));
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "trial"));
  /* the token is checked before anything the peer says is used */
  if (!tok || !tl_token_equal(tok, e->token)) {
    tl_trial *t = id ? tl_trial_find(e, id) : NULL;
    if (t && t->status == TL_RUNNING) tl_trial_note(e, t, "the engine refused its connection: wrong token");
    tl_proto_reject(c, "wrong token");
    return;
  }
  const cJSON *proto = cJSON_GetObjectItemCaseSensitive(msg, "protocol");
  if (proto && !(cJSON_IsNumber(proto) && proto->valuedouble == 1)) {
    tl_proto_reject(c, "unsupported protocol version (this engine speaks 1)");
    return;
  }
  tl_trial *t = id ? tl_trial_find(e, id) : NULL;
  if (!t) {
    tl_proto_reject(c, "hello names no trial of this experiment");
    return;
  }
  if (t->status != TL_RUNNING || !t->proc) {
    tl_proto_reject(c, "trial is not running");
    return;
  }
  if (t->conn) {
    tl_proto_reject(c, "trial already has a connection");
    return;
  }
  c->trial = t;
  t->conn = c;
  quiet_remove(c);
  c->reuse = e->reuse && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "reuse"));
  tl_buf b;
  tl_buf_init(&b);
  tl_proto_welcome(e, t, &b);
  tl_buf_addc(&b, '\n');
  tl_proto_send(c, b.data, b.len);
  tl_buf_free(&b);
}

static int depth(const cJSON *v) {
  int d = 0;
  for (const cJSON *c = v->child; c; c = c->next) {
    int k = depth(c);
    if (k > d) d = k;
  }
  return d + 1;
}

static void on_report(tl_conn *c, cJSON *msg) {
  cJSON *metrics = cJSON_DetachItemFromObjectCaseSensitive(msg, "metrics");
  if (!cJSON_IsObject(metrics)) {
    cJSON_Delete(metrics);
    trial_protocol_error(c, "report without a \"metrics\" object");
    return;
  }
  if (depth(metrics) > TL_MAX_DEPTH) {
    cJSON_Delete(metrics);
    trial_protocol_error(c, "metrics nest deeper than 16 levels");
    return;
  }
  tl_trial *t = c->trial;
  int checkpoint = 0;
  const char *action;
  if (t->ask == TL_ASK_RESET) {
    cJSON_Delete(metrics);
    trial_protocol_error(c, "a report while a reset awaits its reset_done");
    return;
  }
  /* the result's journal lines may wait for the end of this loop turn, to be written with
   * the others of the turn; the decision is sent only once they are written (or durable) */
  tl_journal_hold(&c->e->journal);
  if (t->ask != TL_ASK_NONE) {
    /* the trial was already told to end: say it again, record nothing */
    cJSON_Delete(metrics);
    action = t->ask == TL_ASK_STOP ? "stop" : "pause";
  } else {
    action = tl_trial_report(c->e, t, metrics, &checkpoint);
  }
  tl_journal_release(&c->e->journal);
  if (c->closing) return;
  if (c->e->journal.failed) { /* not in the journal: not acknowledged */
    tl_proto_reject(c, "the engine cannot write its journal; the result is not acknowledged");
    tl_engine_kick(c->e);
    return;
  }
  static tl_buf b; /* reused: the loop is single-threaded */
  tl_buf_reset(&b);
  tl_buf_adds(&b, "{\"type\":\"decision\",\"action\":\"");
  tl_buf_adds(&b, action);
  tl_buf_adds(&b, checkpoint ? "\",\"checkpoint\":true,\"iteration\":"
                             : "\",\"checkpoint\":false,\"iteration\":");
  tl_buf_add_num(&b, (double)t->iterations);
  if (strcmp(action, "reset") == 0) {
    char *cfg = tl_json_print(t->config);
    tl_buf_printf(&b, ",\"config\":%s,\"restore\":", cfg);
    free(cfg);
    const char *restore = tl_trial_latest_checkpoint(t);
    if (restore) tl_buf_add_json_str(&b, restore);
    else tl_buf_adds(&b, "null");
  }
  tl_buf_adds(&b, "}\n");
  tl_proto_send_durable(c, b.data, b.len);
  tl_swap_after_result(c->e);
}

static void on_checkpoint(tl_conn *c, cJSON *msg) {
  const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "path"));
  if (!path) {
    trial_protocol_error(c, "checkpoint without a \"path\" string");
    return;
  }
  char *final = NULL, *err = NULL;
  if (tl_trial_checkpoint(c->e, c->trial, path, &final, &err) != 0) {
    trial_protocol_error(c, err);
    free(err);
    return;
  }
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_adds(&b, "{\"type\":\"checkpoint_ok\",\"path\":");
  tl_buf_add_json_str(&b, final);
  tl_buf_printf(&b, ",\"iteration\":%ld}\n", c->trial->iterations);
  tl_proto_send_durable(c, b.data, b.len);
  tl_buf_free(&b);
  free(final);
}

static void on_reset_done(tl_conn *c, cJSON *msg) {
  tl_trial *t = c->trial;
  if (t->ask != TL_ASK_RESET) {
    trial_protocol_error(c, "reset_done without a reset");
    return;
  }
  int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "ok"));
  tl_buf *b = tl_journal_begin(&c->e->journal, "reset", t->id);
  tl_buf_printf(b, ",\"ok\":%s", ok ? "true" : "false");
  tl_journal_end(&c->e->journal);
  if (ok) {
    t->ask = TL_ASK_NONE;
  } else {
    t->ask = TL_ASK_NONE; /* tl_trial_ask sets RESTART and arms the grace timer */
    tl_trial_ask(c->e, t, TL_ASK_RESTART, c->e->stop_grace_s);
  }
}

void tl_proto_line(tl_conn *c, char *line, size_t len) {
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len == 0) return;
  cJSON *msg = cJSON_ParseWithLength(line, len);
  if (!cJSON_IsObject(msg)) {
    cJSON_Delete(msg);
    if (c->trial)
      trial_protocol_error(c, "a message is not a JSON object");
    else
      tl_proto_reject(c, "a message is not a JSON object");
    return;
  }
  const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "type"));
  if (!type) type = "";
  if (!c->trial) {
    if (strcmp(type, "hello") == 0)
      on_hello(c, msg);
    else
      tl_proto_reject(c, "the first message must be a hello");
  } else if (c->trial->said_done) {
    trial_protocol_error(c, "a message after done");
  } else if (strcmp(type, "report") == 0) {
    on_report(c, msg);
  } else if (strcmp(type, "checkpoint") == 0) {
    on_checkpoint(c, msg);
  } else if (strcmp(type, "reset_done") == 0) {
    on_reset_done(c, msg);
  } else if (strcmp(type, "done") == 0) {
    c->trial->said_done = 1;
  } else if (strcmp(type, "error") == 0) {
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "message"));
    char *why = tl_strfmt("trainer error: %s", m ? m : "(no message)");
    tl_trial_note(c->e, c->trial, why);
    free(why);
  } else if (strcmp(type, "hello") == 0) {
    trial_protocol_error(c, "a second hello on one connection");
  } else {
    char *why = tl_strfmt("unknown message type \"%.40s\"", type);
    trial_protocol_error(c, why);
    free(why);
  }
  cJSON_Delete(msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tl_conn *c = h->data;
  (void)suggested;
  size_t want = 65536;
  if (c->cap - c->len < want) {
    c->cap = c->len + want;
    c->buf = tl_xrealloc(c->buf, c->cap);
  }
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  tl_conn *c = s->data;
  (void)buf;
  if (n < 0) {
    tl_proto_close(c);
    return;
  }
  size_t scan = c->len;
  c->len += (size_t)n;
  size_t start = 0;
  for (size_t i = scan; i < c->len && !c->closing; i++) {
    if (c->buf[i] != '\n') continue;
    if (i - start > TL_MAX_LINE) break;
    tl_proto_line(c, c->buf + start, i - start);
    start = i + 1;
  }
  if (c->closing) return;
  memmove(c->buf, c->buf + start, c->len - start);
  c->len -= start;
  if (c->len > TL_MAX_LINE) {
    if (c->trial)
      trial_protocol_error(c, "a message is longer than 1 MiB");
    else
      tl_proto_reject(c, "a message is longer than 1 MiB");
    return;
  }
  if (c->cap > 4 * 65536 && c->len < 65536) { /* give back what a big message took */
    c->cap = c->len + 65536;
    c->buf = tl_xrealloc(c->buf, c->cap);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  tl_engine *e = server->data;
  if (status < 0) return;
  tl_conn *c = tl_xcalloc(1, sizeof *c);
  c->e = e;
  if (server->type == UV_TCP) {
    uv_tcp_init(e->loop, &c->tcp);
    uv_tcp_nodelay(&c->tcp, 1);
  } else {
    uv_pipe_init(e->loop, &c->pipe, 0);
  }
  c->pipe.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
    tl_proto_close(c);
    return;
  }
  quiet_add(c);
  uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

tl_conn *tl_proto_adopt(tl_engine *e, int fd) {
  tl_conn *c = tl_xcalloc(1, sizeof *c);
  c->e = e;
  uv_pipe_init(e->loop, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_pipe_open(&c->pipe, fd) != 0) {
    tl_proto_close(c);
    return NULL;
  }
  quiet_add(c);
  uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
  return c;
}

int tl_proto_listen(tl_engine *e, const char **err) {
  uv_pipe_init(e->loop, &e->server, 0);
  e->server.data = e;
  unlink(e->sock_path);
  int rc = uv_pipe_bind(&e->server, e->sock_path);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&e->server, 512, on_connection);
  if (rc != 0) {
    *err = uv_strerror(rc);
    return -1;
  }
  return 0;
}

int tl_proto_listen_tcp(tl_engine *e, uv_tcp_t *server, const struct sockaddr *addr) {
  uv_tcp_init(e->loop, server);
  server->data = e;
  int rc = uv_tcp_bind(server, addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)server, 512, on_connection);
  return rc;
}
