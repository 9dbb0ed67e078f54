/* The protocol server over a real libuv loop and a socketpair: the token is checked first,
 * out-of-order, malformed and oversized messages are refused, a good hello is welcomed. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "test.h"
#include "trial.h"

typedef struct {
  uv_loop_t loop;
  tl_engine e;
  int peer;
  tl_conn *conn;
} fixture;

static void setup(fixture *f) {
  memset(f, 0, sizeof *f);
  uv_loop_init(&f->loop);
  f->loop.data = &f->e;
  f->e.loop = &f->loop;
  strcpy(f->e.token, "secret");
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  f->peer = sv[1];
  fcntl(f->peer, F_SETFL, O_NONBLOCK);
  f->conn = tl_proto_adopt(&f->e, sv[0]);
}

/* Sends everything (running the loop while the socket is full), then reads the reply line. */
static char *exchange(fixture *f, const char *data, size_t len) {
  static char reply[4096];
  size_t sent = 0;
  while (sent < len) {
    ssize_t n = write(f->peer, data + sent, len - sent);
    if (n > 0) sent += (size_t)n;
    uv_run(&f->loop, UV_RUN_NOWAIT);
  }
  size_t got = 0;
  for (int spins = 0; spins < 2000 && got < sizeof reply - 1; spins++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    ssize_t n = read(f->peer, reply + got, sizeof reply - 1 - got);
    if (n > 0) {
      got += (size_t)n;
      if (memchr(reply, '\n', got)) break;
    } else {
      poll(NULL, 0, 1);
    }
  }
  reply[got] = 0;
  return reply;
}

static int peer_sees_eof(fixture *f) {
  for (int spins = 0; spins < 1000; spins++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    char c;
    ssize_t n = read(f->peer, &c, 1);
    if (n == 0) return 1;
    poll(NULL, 0, 1);
  }
  return 0;
}

static void teardown(fixture *f) {
  close(f->peer);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  for (int i = 0; i < f->e.ntrials; i++) tl_trial_free(f->e.trials[i]);
  free(f->e.trials);
  tl_buf_free(&f->e.journal.line);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  uv_loop_close(&f->loop);
}

TEST(wrong_token_is_refused) {
  fixture f;
  setup(&f);
  const char *m = "{\"type\":\"hello\",\"trial\":\"00000\",\"token\":\"guess\"}\n";
  char *r = exchange(&f, m, strlen(m));
  CHECK(strstr(r, "\"type\":\"error\"") && strstr(r, "wrong token"));
  CHECK(peer_sees_eof(&f));
  teardown(&f);
}

TEST(first_message_must_be_hello) {
  fixture f;
  setup(&f);
  const char *m = "{\"type\":\"report\",\"metrics\":{}}\n";
  char *r = exchange(&f, m, strlen(m));
  CHECK(strstr(r, "first message must be a hello"));
  CHECK(peer_sees_eof(&f));
  teardown(&f);
}

TEST(non_json_is_refused) {
  fixture f;
  setup(&f);
  char *r = exchange(&f, "hello engine\n", 13);
  CHECK(strstr(r, "not a JSON object"));
  CHECK(peer_sees_eof(&f));
  teardown(&f);
}

TEST(oversized_line_is_refused) {
  fixture f;
  setup(&f);
  size_t n = TL_MAX_LINE + 4096;
  char *big = malloc(n);
  memset(big, 'x', n);
  char *r = exchange(&f, big, n);
  free(big);
  CHECK(strstr(r, "longer than 1 MiB"));
  teardown(&f);
}

TEST(good_hello_gets_the_config) {
  fixture f;
  setup(&f);
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  f.e.dir = dir;
  f.e.journal.fd = -1;
  f.e.journal.failed = 1; /* no journal in this test */
  tl_trial *t = tl_trial_add(&f.e, tl_strdup("00000"), cJSON_Parse("{\"lr\":0.5}"));
  t->status = TL_RUNNING;
  uv_process_t fake;
  t->proc = &fake; /* a live process is all the hello checks */
  const char *m = "{\"type\":\"hello\",\"protocol\":1,\"trial\":\"00000\",\"token\":\"secret\"}\n";
  char *r = exchange(&f, m, strlen(m));
  CHECK(strstr(r, "\"type\":\"welcome\"") && strstr(r, "\"config\":{\"lr\":0.5}"));
  CHECK(t->conn == f.conn);
  m = "{\"type\":\"hello\",\"protocol\":2,\"trial\":\"00000\",\"token\":\"secret\"}\n";
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int old = f.peer;
  f.peer = sv[1];
  fcntl(f.peer, F_SETFL, O_NONBLOCK);
  tl_proto_adopt(&f.e, sv[0]);
  r = exchange(&f, m, strlen(m));
  CHECK(strstr(r, "unsupported protocol"));
  close(old);
  t->proc = NULL;
  f.e.dir = NULL;
  char *cmd = tl_strfmt("rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  free(cmd);
  teardown(&f);
}
