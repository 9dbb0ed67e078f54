/* The live dashboard: see dashboard.h.
 *
 * One request per connection (Connection: close). A connection may hold TL_HTTP_MAX_HEAD
 * bytes of request and lives at most DEADLINE_MS from accept to the last byte of its answer,
 * whatever the client does; at most MAX_CONNS are open (more are closed at once). The loop
 * never waits: the data is rebuilt by a uv_work_t from the experiment directory, at most
 * once per REFRESH_S, and answers share the built bytes (reference counted). */
#include "dashboard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"
#include "plot.h"
#include "util.h"

#define MAX_CONNS 32
#define DEADLINE_MS 10000
#define REFRESH_S 1.0

typedef struct blob {
  int refs;
  size_t len;
  char data[];
} blob;

static blob *blob_new(const char *data, size_t len) {
  blob *b = tl_xmalloc(sizeof *b + len + 1);
  b->refs = 1;
  b->len = len;
  memcpy(b->data, data, len);
  b->data[len] = 0; /* the data is also read as a C string (tl_plot_page) */
  return b;
}

static void blob_unref(blob *b) {
  if (b && --b->refs == 0) free(b);
}

struct conn;

typedef struct tl_dashboard {
  tl_engine *e;
  int fd;           /* the bound socket until uv_tcp_open takes it */
  int started, closing;
  uv_tcp_t server;
  int open_handles; /* server and connections not yet closed */
  char host[64];
  int port, need_token;
  char token[33];
  char *url, *url_file;
  /* data: built on the worker (plot, next, work_err are the worker's while working) */
  tl_plot *plot;
  uv_work_t work;
  int working;
  char *next;
  const char *work_err;
  blob *json, *page; /* the latest data, and the page with it (built on demand) */
  double json_at;    /* loop clock when json was built */
  struct conn *conns, *waiting;
  int nconns;
} tl_dashboard;

typedef struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  int closing, handles;
  tl_dashboard *d;
  struct conn *next, *prev; /* all connections */
  struct conn *next_wait;
  char buf[TL_HTTP_MAX_HEAD];
  size_t len;
  int head_only;
  tl_http_what what;
  uv_write_t wr;
  uv_shutdown_t sh;
  char head[512];
  blob *body; /* a reference while the answer is written */
} conn;

/* ---- the request head ---- */

static int token_ok(const char *query, size_t qlen, const char *token) {
  size_t tlen = strlen(token);
  const char *p = query, *end = query + qlen;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - p) == 6 + tlen && memcmp(p, "token=", 6) == 0) {
      unsigned diff = 0; /* compare every byte: no timing hint */
      for (size_t i = 0; i < tlen; i++) diff |= (unsigned char)p[6 + i] ^ (unsigned char)token[i];
      if (diff == 0) return 1;
    }
    p = stop + 1;
  }
  return 0;
}

tl_http_what tl_dashboard_parse(const char *buf, size_t len, const char *token, int *head_only) {
  *head_only = 0;
  const char *nl = memchr(buf, '\n', len);
  if (!nl) return len >= TL_HTTP_MAX_HEAD ? TL_HTTP_TOO_LARGE : TL_HTTP_INCOMPLETE;
  /* the request line: METHOD SP /target SP HTTP/1.x */
  size_t line = (size_t)(nl - buf);
  if (line && buf[line - 1] == '\r') line--;
  size_t m = 0;
  while (m < line && m < 16 && buf[m] >= 'A' && buf[m] <= 'Z') m++;
  if (m == 0 || m >= line || buf[m] != ' ') return TL_HTTP_BAD;
  const char *target = buf + m + 1;
  const char *sp = memchr(target, ' ', line - m - 1);
  if (!sp || target[0] != '/') return TL_HTTP_BAD;
  size_t tlen = (size_t)(sp - target), vlen = line - m - 1 - tlen - 1;
  if (!(vlen == 8 && (memcmp(sp + 1, "HTTP/1.1", 8) == 0 || memcmp(sp + 1, "HTTP/1.0", 8) == 0)))
    return TL_HTTP_BAD;
  for (size_t i = 0; i < tlen; i++)
    if ((unsigned char)target[i] <= ' ' || (unsigned char)target[i] >= 127) return TL_HTTP_BAD;
  /* the end of the head: an empty line */
  int done = 0;
  const char *end = buf + len;
  for (const char *p = nl; p && !done;) {
    done = (p + 1 < end && p[1] == '\n') || (p + 2 < end && p[1] == '\r' && p[2] == '\n');
    p = p + 1 < end ? memchr(p + 1, '\n', (size_t)(end - p - 1)) : NULL;
  }
  if (!done) return len >= TL_HTTP_MAX_HEAD ? TL_HTTP_TOO_LARGE : TL_HTTP_INCOMPLETE;
  int get = m == 3 && memcmp(buf, "GET", 3) == 0, head = m == 4 && memcmp(buf, "HEAD", 4) == 0;
  if (!get && !head) return TL_HTTP_METHOD;
  *head_only = head;
  const char *q = memchr(target, '?', tlen);
  size_t plen = q ? (size_t)(q - target) : tlen;
  if (token && !(q && token_ok(q + 1, tlen - plen - 1, token))) return TL_HTTP_FORBIDDEN;
  if ((plen == 1) || (plen == 11 && memcmp(target, "/index.html", 11) == 0)) return TL_HTTP_PAGE;
  if (plen == 10 && memcmp(target, "/data.json", 10) == 0) return TL_HTTP_DATA;
  return TL_HTTP_NOT_FOUND;
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->handles > 0) return;
  tl_dashboard *d = c->d;
  blob_unref(c->body);
  free(c);
  d->open_handles--;
}

static void conn_close(conn *c) {
  if (c->closing) return;
  c->closing = 1;
  tl_dashboard *d = c->d;
  if (c->prev) c->prev->next = c->next;
  else d->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  d->nconns--;
  for (conn **w = &d->waiting; *w; w = &(*w)->next_wait)
    if (*w == c) {
      *w = c->next_wait;
      break;
    }
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_deadline(uv_timer_t *t) { conn_close(t->data); }

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  conn_close(req->data);
}

static void on_written(uv_write_t *req, int status) {
  conn *c = req->data;
  if (status < 0 || c->closing) {
    conn_close(c);
    return;
  }
  c->sh.data = c;
  if (uv_shutdown(&c->sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_close(c);
}

/* Sends the answer: a head, and body (shared; NULL for a short text answer). */
static void answer(conn *c, int code, const char *type, blob *body, const char *text) {
  static const char *reasons[] = {"200 OK", "400 Bad Request", "403 Forbidden", "404 Not Found",
                                  "405 Method Not Allowed", "431 Request Header Fields Too Large",
                                  "503 Service Unavailable"};
  const char *reason = code == 200 ? reasons[0] : code == 400 ? reasons[1] : code == 403 ? reasons[2]
                     : code == 404 ? reasons[3] : code == 405 ? reasons[4] : code == 431 ? reasons[5]
                     : reasons[6];
  if (!body) {
    body = blob_new(text, strlen(text));
    type = "text/plain; charset=utf-8";
  } else {
    body->refs++;
  }
  c->body = body;
  snprintf(c->head, sizeof c->head,
           "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
           "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'none'; "
           "script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'\r\n"
           "%sConnection: close\r\n\r\n",
           reason, type, body->len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
  uv_buf_t bufs[2] = {uv_buf_init(c->head, (unsigned)strlen(c->head)),
                      uv_buf_init(body->data, (unsigned)body->len)};
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, bufs, c->head_only ? 1 : 2, on_written) != 0)
    conn_close(c);
}

static void serve_data(conn *c) {
  tl_dashboard *d = c->d;
  if (c->what == TL_HTTP_DATA) {
    answer(c, 200, "application/json", d->json, NULL);
    return;
  }
  if (!d->page) {
    size_t len;
    char *page = tl_plot_page(d->json->data, &len);
    d->page = blob_new(page, len);
    free(page);
  }
  answer(c, 200, "text/html; charset=utf-8", d->page, NULL);
}

static void refresh(tl_dashboard *d);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n < 0 || (n > 0 && buf->base != c->buf + c->len)) {
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  tl_dashboard *d = c->d;
  c->what = tl_dashboard_parse(c->buf, c->len, d->need_token ? d->token : NULL, &c->head_only);
  if (c->what == TL_HTTP_INCOMPLETE) return;
  uv_read_stop(s);
  switch (c->what) {
  case TL_HTTP_BAD: answer(c, 400, NULL, NULL, "bad request\n"); return;
  case TL_HTTP_TOO_LARGE: answer(c, 431, NULL, NULL, "request head too large\n"); return;
  case TL_HTTP_METHOD: answer(c, 405, NULL, NULL, "read-only: GET / or /data.json\n"); return;
  case TL_HTTP_FORBIDDEN:
    answer(c, 403, NULL, NULL, "this dashboard needs ?token=... (printed by tunelua at start)\n");
    return;
  case TL_HTTP_NOT_FOUND: answer(c, 404, NULL, NULL, "not found: GET / or /data.json\n"); return;
  default: break;
  }
  if (d->json && tl_engine_now(NULL) - d->json_at < REFRESH_S) {
    serve_data(c);
    return;
  }
  c->next_wait = d->waiting;
  d->waiting = c;
  refresh(d);
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf) {
  (void)want;
  conn *c = h->data;
  /* a full buffer reads 1 byte more into nothing: parse says TOO_LARGE before that */
  static char sink[1];
  if (c->len >= sizeof c->buf) *buf = uv_buf_init(sink, 1);
  else *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void on_connection(uv_stream_t *server, int status) {
  tl_dashboard *d = server->data;
  if (status < 0 || d->closing) return;
  conn *c = tl_xcalloc(1, sizeof *c);
  c->d = d;
  uv_tcp_init(d->e->loop, &c->tcp);
  uv_timer_init(d->e->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  d->open_handles++;
  c->next = d->conns;
  if (d->conns) d->conns->prev = c;
  d->conns = c;
  d->nconns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  if (d->nconns > MAX_CONNS) {
    /* full: the oldest connection still sending its request goes (slow clients cannot
     * keep others out); if every one is being answered, the new one goes */
    conn *old = NULL;
    for (conn *o = d->conns; o; o = o->next)
      if (o != c && o->what == TL_HTTP_INCOMPLETE) old = o;
    conn_close(old ? old : c);
    if (!old) return;
  }
  uv_timer_start(&c->timer, on_deadline, DEADLINE_MS, 0);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_close(c);
}

/* ---- the data, built on a worker thread ---- */

static void work(uv_work_t *w) {
  tl_dashboard *d = w->data;
  d->work_err = NULL;
  if (tl_plot_update(d->plot, &d->work_err) == 0) d->next = tl_plot_json(d->plot, 1);
}

static void work_done(uv_work_t *w, int status) {
  tl_dashboard *d = w->data;
  d->working = 0;
  if (status == 0 && d->next) {
    blob_unref(d->json);
    d->json = blob_new(d->next, strlen(d->next));
    blob_unref(d->page);
    d->page = NULL;
  } else if (!d->json) { /* summary.json is not there yet: an empty experiment */
    tl_buf b;
    tl_buf_init(&b);
    tl_buf_adds(&b, "{\"name\":");
    tl_buf_add_json_str(&b, d->e->name ? d->e->name : "experiment");
    tl_buf_adds(&b, ",\"metric\":null,\"mode\":null,\"status\":\"running\",\"best_trial\":null,"
                    "\"live\":true,\"clock\":\"wall\",\"trials\":[],\"best\":[],\"points\":0}");
    d->json = blob_new(b.data, b.len);
    tl_buf_free(&b);
  }
  free(d->next);
  d->next = NULL;
  d->json_at = tl_engine_now(NULL);
  conn *c = d->waiting;
  d->waiting = NULL;
  while (c) {
    conn *next = c->next_wait;
    c->next_wait = NULL;
    if (!c->closing && !d->closing) serve_data(c);
    c = next;
  }
}

static void refresh(tl_dashboard *d) {
  if (d->working || d->closing) return;
  d->working = 1;
  d->work.data = d;
  if (uv_queue_work(d->e->loop, &d->work, work, work_done) != 0) d->working = 0;
}

/* ---- start and end ---- */

static int is_loopback(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
  if (a->ss_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
  return 0;
}

int tl_dashboard_bind(tl_engine *e, const char *spec, char **err) {
  char host[64] = "127.0.0.1";
  const char *colon = strrchr(spec, ':'), *port_s = colon ? colon + 1 : spec;
  if (colon) {
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2; /* [::1]:8080 */
    if (hl == 0 || hl >= sizeof host) {
      *err = tl_strfmt("--dashboard expects [HOST:]PORT, got \"%s\"", spec);
      return -1;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
  }
  char *end;
  long port = strtol(port_s, &end, 10);
  if (!*port_s || *end || port < 0 || port > 65535) {
    *err = tl_strfmt("--dashboard expects [HOST:]PORT with a port 0..65535 (0: any free port), "
                     "got \"%s\"", spec);
    return -1;
  }
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof addr);
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0) {
    *err = tl_strfmt("--dashboard: \"%s\" is not an IP address (use 127.0.0.1, 0.0.0.0 or an "
                     "address of this machine)", host);
    return -1;
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  socklen_t alen = addr.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&addr, alen) != 0 || listen(fd, 64) != 0) {
    *err = tl_strfmt("--dashboard: cannot listen on %s port %ld: %s", host, port, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  struct sockaddr_storage got;
  socklen_t glen = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &glen);
  tl_dashboard *d = tl_xcalloc(1, sizeof *d);
  d->e = e;
  d->fd = fd;
  d->port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                           : ((struct sockaddr_in6 *)&got)->sin6_port);
  snprintf(d->host, sizeof d->host, "%s", host);
  d->need_token = !is_loopback(&addr);
  if (d->need_token) {
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
      *err = tl_strdup("--dashboard: no randomness for the token (getrandom failed)");
      close(fd);
      free(d);
      return -1;
    }
    for (size_t i = 0; i < sizeof raw; i++) snprintf(d->token + 2 * i, 3, "%02x", raw[i]);
  }
  e->dashboard = d;
  return 0;
}

void tl_dashboard_start(tl_engine *e) {
  tl_dashboard *d = e->dashboard;
  if (!d || d->started) return;
  d->started = 1;
  d->plot = tl_plot_new(e->dir);
  uv_tcp_init(e->loop, &d->server);
  d->server.data = d;
  d->open_handles = 1;
  if (uv_tcp_open(&d->server, d->fd) != 0 || uv_listen((uv_stream_t *)&d->server, 64, on_connection) != 0) {
    fprintf(stderr, "tunelua: warning: the dashboard cannot accept connections\n");
  }
  d->fd = -1;
  /* bound to every address: the URL names this machine, which is what others reach */
  char name[256];
  size_t nlen = sizeof name;
  const char *shown = d->host;
  if ((strcmp(d->host, "0.0.0.0") == 0 || strcmp(d->host, "::") == 0) && uv_os_gethostname(name, &nlen) == 0)
    shown = name;
  int v6 = strchr(shown, ':') != NULL;
  d->url = tl_strfmt("http://%s%s%s:%d/%s%s", v6 ? "[" : "", shown, v6 ? "]" : "", d->port,
                     d->need_token ? "?token=" : "", d->need_token ? d->token : "");
  tl_console_message(e, "tunelua: dashboard at %s", d->url); /* above the live table */
  d->url_file = tl_strfmt("%s/dashboard.url", e->dir);
  char *line = tl_strfmt("%s\n", d->url);
  unlink(d->url_file);
  /* with a token in it, the URL is a secret: only the owner may read the file */
  int fd = open(d->url_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, d->need_token ? 0600 : 0644);
  if (fd < 0 || tl_write_all(fd, line, strlen(line)) != 0)
    fprintf(stderr, "tunelua: warning: cannot write %s\n", d->url_file);
  if (fd >= 0) close(fd);
  free(line);
}

static void on_server_closed(uv_handle_t *h) {
  tl_dashboard *d = h->data;
  d->open_handles--;
}

void tl_dashboard_close(tl_engine *e) {
  tl_dashboard *d = e->dashboard;
  if (!d || !d->started || d->closing) return;
  d->closing = 1;
  uv_close((uv_handle_t *)&d->server, on_server_closed);
  while (d->conns) conn_close(d->conns);
  if (d->url_file) unlink(d->url_file);
}

void tl_dashboard_free(tl_engine *e) {
  tl_dashboard *d = e->dashboard;
  if (!d) return;
  if (d->fd >= 0) close(d->fd);
  tl_plot_free(d->plot);
  blob_unref(d->json);
  blob_unref(d->page);
  free(d->next), free(d->url), free(d->url_file);
  free(d);
  e->dashboard = NULL;
}
