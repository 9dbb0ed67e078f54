/* The live dashboard (`--dashboard [HOST:]PORT`): a small read-only HTTP/1.1 server on the
 * engine's loop that serves the report page (GET /) and its data (GET /data.json). The data
 * is built from the experiment directory on a worker thread (plot.c), never on the loop. */
#ifndef TL_DASHBOARD_H
#define TL_DASHBOARD_H

#include <stddef.h>

#include "engine.h"

/* What a request asks for, from its head (request line and headers). */
typedef enum {
  TL_HTTP_INCOMPLETE = 0, /* no blank line yet: read more */
  TL_HTTP_PAGE,           /* GET / */
  TL_HTTP_DATA,           /* GET /data.json */
  TL_HTTP_BAD,            /* 400: not an HTTP/1.x request line */
  TL_HTTP_TOO_LARGE,      /* 431: no end of the head within the limit */
  TL_HTTP_NOT_FOUND,      /* 404 */
  TL_HTTP_METHOD,         /* 405: anything but GET and HEAD */
  TL_HTTP_FORBIDDEN       /* 403: the token is required and missing or wrong */
} tl_http_what;

#define TL_HTTP_MAX_HEAD 8192

/* Classifies a request head of len bytes; token (NULL: none needed) must be given as
 * ?token=... in the target. *head_only is set for HEAD. Pure: the C tests call it. */
tl_http_what tl_dashboard_parse(const char *buf, size_t len, const char *token, int *head_only);

/* Parses [HOST:]PORT and binds a listening socket (before anything is written, so that a
 * bad address or a port in use is a command-line error); 0, or -1 with *err (owned). */
int tl_dashboard_bind(tl_engine *e, const char *spec, char **err);
/* Starts serving on the loop; prints the URL and writes it to DIR/dashboard.url. */
void tl_dashboard_start(tl_engine *e);
/* Closes the server and every connection (the experiment is over); removes dashboard.url. */
void tl_dashboard_close(tl_engine *e);
/* After the loop has ended. */
void tl_dashboard_free(tl_engine *e);

#endif
