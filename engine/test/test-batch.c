/* The result hot path's batching and formatting: numbers without printf write what printf
 * wrote; held journal lines wait for the end of the loop turn, and the replies that wait on
 * them are answered only after they are written; buffered trial logs. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "journal.h"
#include "numfmt.h"
#include "outbuf.h"
#include "test.h"
#include "util.h"

static uint64_t rng_state = 88172645463325252ull;
static uint64_t next_u64(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static int same_as_printf(double v) {
  char a[TL_NUM_MAX], b[TL_NUM_MAX];
  if (!isfinite(v)) return 1;
  size_t na = tl_fmt_num(a, v), nb = tl_fmt_num_printf(b, v);
  if (na == nb && strcmp(a, b) == 0 && strtod(a, NULL) == v) return 1;
  fprintf(stderr, "  %a: fast \"%s\", printf \"%s\"\n", v, a, b);
  return 0;
}

TEST(numbers_match_printf_and_read_back) {
  static const double fixed[] = {0, -0.0, 0.1, 0.2, 0.3, 1e15, 1e15 - 0.5, 999999999999999.9,
                                 1e-5, 1e-6, 1e-7, 0.30000000000000004, 5e-324, 1e308,
                                 123456789012345.6, 4503599627370495.5, 0.5, 2.5, 0.95,
                                 1.0 / 3, 2.0 / 3, 1e-4, 9.9999999999999995e-7, 1e300, 1e-300};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
    CHECK(same_as_printf(fixed[i]));
    CHECK(same_as_printf(-fixed[i]));
  }
  for (int i = 0; i < 200000; i++) {
    uint64_t r = next_u64();
    double v;
    memcpy(&v, &r, sizeof v);
    CHECK(same_as_printf(v)); /* any bit pattern */
    double u = (double)(next_u64() >> 11) / 9007199254740992.0;
    CHECK(same_as_printf(u));
    CHECK(same_as_printf(u * 1e-6));
    CHECK(same_as_printf(1.0 / (i + 1)));
    CHECK(same_as_printf(1.8e9 + u * 1e6)); /* timestamps */
    char t[64]; /* short decimals, as trainers print them */
    snprintf(t, sizeof t, "%.*g", (int)(next_u64() % 17) + 1, u * pow(10, (int)(next_u64() % 30) - 10));
    CHECK(same_as_printf(strtod(t, NULL)));
    CHECK(same_as_printf(nextafter(strtod(t, NULL), INFINITY)));
  }
}

static int answered;
static void on_durable(void *ud, int ok) {
  (void)ud;
  answered += ok ? 1 : 100;
}

static size_t file_size(const char *p) {
  size_t n = 0;
  char *all = tl_read_file(p, &n);
  free(all);
  return all ? n : 0;
}

TEST(held_lines_are_written_at_the_end_of_the_turn) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *p = tl_strfmt("%s/journal.jsonl", dir);
  uv_loop_t loop;
  uv_loop_init(&loop);
  tl_journal j;
  const char *err;
  CHECK(tl_journal_open(&j, p, &err) == 0);
  tl_journal_sync_mode(&j, &loop, TL_FSYNC_NEVER, 0);
  answered = 0;
  tl_journal_hold(&j);
  tl_journal_begin(&j, "result", "00001");
  CHECK(tl_journal_end(&j) == 0);
  tl_journal_after(&j, on_durable, NULL);
  tl_journal_begin(&j, "result", "00002");
  CHECK(tl_journal_end(&j) == 0);
  tl_journal_after(&j, on_durable, NULL);
  tl_journal_release(&j);
  CHECK(file_size(p) == 0 && answered == 0); /* nothing written, nobody answered yet */
  uv_run(&loop, UV_RUN_NOWAIT);              /* the check phase of this turn */
  CHECK(answered == 2);
  size_t two = file_size(p);
  CHECK(two > 0);
  CHECK(j.flushed == 2 && j.written == 2);
  /* a line that is not held is written at once, with what was pending before it */
  tl_journal_hold(&j);
  tl_journal_begin(&j, "result", "00003");
  tl_journal_end(&j);
  tl_journal_release(&j);
  tl_journal_begin(&j, "status", "00003");
  tl_journal_end(&j);
  CHECK(j.flushed == 4 && file_size(p) > two);
  /* with fsync, the answer waits for the fdatasync on the thread pool */
  tl_journal_sync_mode(&j, &loop, TL_FSYNC_ALWAYS, 0);
  answered = 0;
  tl_journal_hold(&j);
  tl_journal_begin(&j, "result", "00004");
  tl_journal_end(&j);
  tl_journal_after(&j, on_durable, NULL);
  tl_journal_release(&j);
  uv_run(&loop, UV_RUN_NOWAIT);
  for (int spins = 0; spins < 5000 && answered == 0; spins++) uv_run(&loop, UV_RUN_ONCE);
  CHECK(answered == 1 && j.synced == 5);
  tl_journal_detach(&j);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  tl_journal_close(&j);
  char *all = tl_read_file(p, NULL);
  int lines = 0;
  for (char *c = all; *c; c++) lines += *c == '\n';
  CHECK(lines == 5);
  free(all);
  unlink(p), rmdir(dir), free(p);
}

static void no_op(uv_timer_t *t) { (void)t; }

/* The default: the answer waits for the write only; a timer syncs what is unsynced. */
TEST(periodic_sync_answers_after_the_write_and_syncs_later) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *p = tl_strfmt("%s/journal.jsonl", dir);
  uv_loop_t loop;
  uv_loop_init(&loop);
  tl_journal j;
  const char *err;
  CHECK(tl_journal_open(&j, p, &err) == 0);
  tl_journal_sync_mode(&j, &loop, TL_FSYNC_PERIODIC, 20);
  answered = 0;
  tl_journal_hold(&j);
  tl_journal_begin(&j, "result", "00001");
  tl_journal_end(&j);
  tl_journal_after(&j, on_durable, NULL);
  tl_journal_release(&j);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(answered == 1 && j.flushed == 1 && j.synced == 0 && j.syncs == 0);
  /* the timer is unreferenced: hold the loop with one of our own until the sync is done */
  uv_timer_t hold;
  uv_timer_init(&loop, &hold);
  uv_timer_start(&hold, no_op, 5000, 0);
  for (int spins = 0; spins < 5000 && j.synced < 1; spins++) uv_run(&loop, UV_RUN_ONCE);
  CHECK(j.synced == 1 && j.syncs == 1);
  /* nothing new: the next ticks start no sync */
  for (int spins = 0; spins < 3; spins++) uv_run(&loop, UV_RUN_ONCE);
  CHECK(j.syncs == 1);
  uv_close((uv_handle_t *)&hold, NULL);
  tl_journal_detach(&j);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  tl_journal_close(&j);
  unlink(p), rmdir(dir), free(p);
}

TEST(trial_logs_are_written_when_flushed) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *p = tl_strfmt("%s/result.jsonl", dir);
  tl_out o, q;
  tl_out_init(&o), tl_out_init(&q);
  CHECK(tl_out_open(&o, p) == 0);
  tl_out_add(&o, "{\"a\":1}\n", 8);
  tl_out_add(&o, "{\"a\":2}\n", 8);
  CHECK(file_size(p) == 0);
  tl_out_flush_all();
  CHECK(file_size(p) == 16);
  tl_out_add(&o, "{\"a\":3}\n", 8);
  tl_out_discard(&o);
  tl_out_flush_all();
  CHECK(file_size(p) == 16);
  char big[1000];
  memset(big, 'x', sizeof big);
  for (int i = 0; i < 70; i++) tl_out_add(&o, big, sizeof big); /* over 64 KiB: written */
  CHECK(file_size(p) >= 16 + 65536);
  tl_out_close(&o);
  CHECK(file_size(p) == 16 + 70000);
  tl_out_add(&o, "late", 4); /* closed: dropped */
  tl_out_close(&q);          /* never opened: harmless */
  tl_out_flush_all();
  CHECK(file_size(p) == 16 + 70000);
  unlink(p), rmdir(dir), free(p);
}

/* A trial's logs opened on the thread pool: lines added before the open is done wait; a
 * flush or close takes the open over (waits, or opens on the spot); a header goes only into
 * a new file; the loop ends with every open settled and freed. */
TEST(trial_logs_opened_in_the_background) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *p = tl_strfmt("%s/a.log", dir), *q = tl_strfmt("%s/b.log", dir);
  tl_out a, b;
  tl_out_init(&a), tl_out_init(&b);
  tl_buf h;
  tl_buf_init(&h);
  tl_buf_adds(&h, "HDR\n");
  tl_out *pa = &a, *pb = &b;
  char *path = tl_strdup(p);
  tl_out_open_bg(&loop, 1, &pa, &path, &h);
  CHECK(h.len == 0);         /* taken */
  CHECK(a.fd == TL_OUT_PENDING && tl_out_is_open(&a)); /* lines are kept from now on */
  tl_out_add(&a, "one\n", 4);
  tl_out_flush(&a); /* takes the open over: done by the worker, or here */
  CHECK(a.fd >= 0);
  CHECK(file_size(p) == 8);
  /* the worker's open hands its fd over in the loop */
  path = tl_strdup(q);
  tl_out_open_bg(&loop, 1, &pb, &path, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(b.fd >= 0);
  tl_out_add(&b, "two\n", 4);
  tl_out_close(&b);
  CHECK(file_size(q) == 4);
  /* reopened: the header is for new files only; a close before the open settles it */
  tl_buf_adds(&h, "HDR\n");
  tl_out_close(&a);
  path = tl_strdup(p);
  tl_out_open_bg(&loop, 1, &pa, &path, &h);
  tl_out_add(&a, "three\n", 6);
  tl_out_close(&a);
  CHECK(file_size(p) == 14);
  uv_run(&loop, UV_RUN_DEFAULT);
  char *all = tl_read_file(p, NULL);
  CHECK_STR(all, "HDR\none\nthree\n");
  free(all);
  /* a batch: closing one settles it; the others get their fds when the job is done */
  tl_out c[3];
  tl_out *pc[3] = {&c[0], &c[1], &c[2]};
  char *paths[3];
  for (int i = 0; i < 3; i++) tl_out_init(&c[i]), paths[i] = tl_strfmt("%s/c%d.log", dir, i);
  tl_out_open_bg(&loop, 3, pc, paths, NULL);
  tl_out_add(&c[1], "x\n", 2);
  tl_out_close(&c[1]);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(c[0].fd >= 0 && c[2].fd >= 0);
  for (int i = 0; i < 3; i++) {
    char *f = tl_strfmt("%s/c%d.log", dir, i);
    CHECK(file_size(f) == (i == 1 ? 2 : 0));
    tl_out_close(&c[i]);
    unlink(f), free(f);
  }
  CHECK(uv_loop_close(&loop) == 0);
  unlink(p), unlink(q), rmdir(dir), free(p), free(q);
  tl_buf_free(&h);
}
