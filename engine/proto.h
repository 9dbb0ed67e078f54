/* The trainer protocol server: a Unix socket, one tl_conn per trainer connection,
 * newline-delimited JSON parsed with cJSON. docs/protocol.md is the reference. */
#ifndef TL_PROTO_H
#define TL_PROTO_H

#include "engine.h"

typedef struct tl_conn {
  union {
    uv_pipe_t pipe; /* a Unix socket (local); handle and stream calls go through it */
    uv_tcp_t tcp;   /* or TCP (slurm): the same handle, so &c->pipe serves both */
  };
  tl_engine *e;
  tl_trial *trial; /* bound after a good hello, borrowed */
  char *buf;       /* bytes received and not yet parsed */
  size_t len, cap;
  int closing;
  int closed;      /* the handle is closed; freed when the last journal wait returns */
  int refs;        /* replies waiting for the journal to reach the disk */
  tl_buf reply;    /* those replies, in order */
  int reuse;       /* the trainer said it can take reset decisions */
  uint64_t accepted_ms;                    /* uv_now when accepted */
  struct tl_conn *quiet_next, **quiet_prev; /* in the list of those without a hello yet */
} tl_conn;

/* Seconds a connection may stay without its hello before it is closed (a client that
 * connected and said nothing, or something else that found the socket); TUNELUA_HELLO_TIMEOUT_S
 * overrides it. Checked on the engine's tick, so it is closed within a second after. */
#define TL_HELLO_TIMEOUT_S 5

int tl_proto_listen(tl_engine *e, const char **err);
/* Also listens on TCP at addr (slurm: trainers on other nodes); the same protocol and
 * token. server is the caller's, initialised here; 0 or a libuv error code. */
int tl_proto_listen_tcp(tl_engine *e, uv_tcp_t *server, const struct sockaddr *addr);
/* Serves a connected stream socket as if it had been accepted (tests, future executors). */
tl_conn *tl_proto_adopt(tl_engine *e, int fd);
void tl_proto_send(tl_conn *c, const char *data, size_t len);
/* Sends data once every journal line written so far is durable: acknowledgements. */
void tl_proto_send_durable(tl_conn *c, const char *data, size_t len);
/* The welcome of trial t (one JSON object, no newline), appended to b. Its trainer also
 * finds it in TUNELUA_WELCOME when it is at most TL_WELCOME_ENV_MAX bytes. */
#define TL_WELCOME_ENV_MAX 16384
void tl_proto_welcome(tl_engine *e, tl_trial *t, tl_buf *b);
/* Sends {"type":"error"} with the message, then closes. */
void tl_proto_reject(tl_conn *c, const char *msg);
void tl_proto_close(tl_conn *c);
/* Closes the connections that sent no hello within TL_HELLO_TIMEOUT_S (on the tick). */
void tl_proto_tick(tl_engine *e);
/* Handles one complete message line (exposed for tests). */
void tl_proto_line(tl_conn *c, char *line, size_t len);
int tl_token_equal(const char *a, const char *b);

#endif
