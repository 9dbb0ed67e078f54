/* libFuzzer target: the trainer protocol server, fed as one connection would be.
 *
 * Input: one flag byte, then the bytes a trainer sends on its socket.
 *   flag bits 0-1: the experiment (fixture.h: 0 FIFO + checkpoint retention, 1 ASHA, 2 PBT
 *                  with reuse; 3 means 0)
 *   flag bit 2:    the journal waits for fdatasync before acknowledgements (group commit)
 *   flag bit 3:    the harness sends a valid hello for trial 00000 first, so the rest of the
 *                  input talks to a bound trial (reports, checkpoints, done, ...)
 * Two trials (00000, 00001) are RUNNING with a fake process; the token is "secret". Under
 * PBT, trial 00001 already has two results and a checkpoint, so reports of 00000 can be
 * answered with exploits (reset decisions). The bytes go through tl_proto_adopt on one end
 * of a socketpair: framing (on_read), parsing, the Lua runner and the journal all run. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "fixture.h"
#include "proto.h"

static const char hello[] =
    "{\"type\":\"hello\",\"protocol\":1,\"trial\":\"00000\",\"token\":\"secret\",\"reuse\":true}\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  signal(SIGPIPE, SIG_IGN);
  fz_init("fuzz-proto");
  return 0;
}

/* PBT: trial 00001 reports twice and records a checkpoint, so that it can be exploited. */
static void pbt_source(fz_engine *f) {
  tl_engine *e = &f->e;
  tl_trial *t = e->trials[1];
  for (int i = 0; i < 2; i++) {
    int ck = 0;
    tl_trial_report(e, t, cJSON_Parse("{\"loss\":0.001}"), &ck);
  }
  char *dir = tl_strfmt("%s/ck", t->dir);
  tl_mkdirs(dir);
  char *state = tl_strfmt("%s/state", dir); /* an exploit copies the checkpoint: a file in it */
  fz_write_file(state, "x", 1);
  free(state);
  char *final = NULL, *err = NULL;
  tl_trial_checkpoint(e, t, dir, &final, &err);
  free(final), free(err), free(dir);
}

static int drain(int fd) { /* 1 at EOF: the engine closed the connection */
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return 1;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int flags = data[0];
  data++, size--;
  fz_enter();
  fz_engine f;
  char *err = NULL;
  if (fz_engine_open(&f, NULL, (flags & 3) % FZ_NEXPERIMENTS, (flags >> 2) & 1, &err) != 0)
    fz_die("fz_engine_open", err);
  tl_engine *e = &f.e;
  fz_start_trials(&f, 2);
  /* trial 00000 in the trial's own directory: relative checkpoint paths of seeds */
  char *ck = tl_strfmt("%s/trials/00000/ck", e->dir);
  tl_mkdirs(ck);
  free(ck);
  if ((flags & 3) == 2) pbt_source(&f);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) fz_die("socketpair", strerror(errno));
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  tl_conn *c = tl_proto_adopt(e, sv[0]);
  if (!c) fz_die("tl_proto_adopt", "failed");

  tl_buf in;
  tl_buf_init(&in);
  if (flags & 8) tl_buf_adds(&in, hello);
  tl_buf_add(&in, (const char *)data, size);
  size_t sent = 0;
  int eof = 0;
  for (int spins = 0; sent < in.len && !eof && spins < 10000; spins++) {
    ssize_t n = write(sv[1], in.data + sent, in.len - sent);
    if (n > 0) sent += (size_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break; /* the engine closed */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    eof = drain(sv[1]);
  }
  tl_buf_free(&in);
  shutdown(sv[1], SHUT_WR); /* the trainer hangs up: the engine sees EOF and closes */
  for (int spins = 0; !eof && spins < 10000; spins++) {
    uv_run(&f.loop, UV_RUN_NOWAIT);
    eof = drain(sv[1]);
    if (!eof) poll(NULL, 0, 0);
  }
  if (!eof) fz_die("the connection", "still open after the peer hung up");
  close(sv[1]);
  (void)c; /* closed (and freed once its replies are done) by the engine itself */
  fz_engine_close(&f);
  fz_leave();
  return 0;
}
