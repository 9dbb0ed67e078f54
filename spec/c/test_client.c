/* Unit tests of trainers/c/tunelua.h: the JSON scanner, string decoding and escaping,
 * and the standalone mode (TUNELUA_PARAMS). Build and run from the repo root:
 *   cc -std=c11 -Wall -Wextra -Werror -Itrainers/c -o build/test-client spec/c/test_client.c \
 *     && ./build/test-client
 * Prints "N passed, N failed"; exit status 1 when any failed. */
#define TUNELUA_IMPLEMENTATION
#include "tunelua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (cond) {                                                                                \
      passed++;                                                                                \
    } else {                                                                                   \
      failed++;                                                                                \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                  \
    }                                                                                          \
  } while (0)

/* The text of the value at path, as a NUL-terminated copy in a static buffer ("" if none). */
static const char *get(const char *json, const char *path) {
  static char buf[256];
  size_t n = 0;
  const char *v = tunelua_json_get(json, path, &n);
  if (!v) return "<none>";
  snprintf(buf, sizeof buf, "%.*s", (int)n, v);
  return buf;
}

static const char *esc(const char *s) {
  static char buf[256];
  size_t n = tunelua_json_escape(buf, sizeof buf, s);
  return n < sizeof buf ? buf : "<too long>";
}

static void test_valid(void) {
  const char *good[] = {"{}", "[]", "0", "-0.5e+3", "\"a\\u00e9\\n\"", "true", "null",
                        " {\"a\" : [1, {\"b\":false}] } ", "[[[[]]]]", "1E5", "\"\\ud83d\\ude00\""};
  const char *bad[] = {"", "{", "{\"a\"}", "{\"a\":}", "[1,]", "{,}", "01", "1.", ".5", "+1",
                       "nan", "NaN", "inf", "\"\\x\"", "\"a\nb\"", "tru", "{} {}", "\"\\u12\"",
                       "[1 2]", "{\"a\":1,}", "-", "1e"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK(tunelua_json_valid(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int ok = !tunelua_json_valid(bad[i]);
    if (!ok) fprintf(stderr, "  accepted: %s\n", bad[i]);
    CHECK(ok);
  }
  char deep[2000];
  memset(deep, '[', 1000), memset(deep + 1000, ']', 999), deep[1999] = 0;
  CHECK(!tunelua_json_valid(deep)); /* depth limit, and unbalanced anyway */
}

static void test_get(void) {
  const char *j = "{\"lr\":0.01,\"optim\":{\"name\":\"sgd\",\"beta\":[0.9,0.99],"
                  "\"a.b\":1},\"n\":null,\"s\":\"x\\\"y\",\"lr\":0.02,\"layers\":[{\"w\":64}]}";
  CHECK(strcmp(get(j, "lr"), "0.02") == 0); /* the last duplicate wins */
  CHECK(strcmp(get(j, "optim.name"), "\"sgd\"") == 0);
  CHECK(strcmp(get(j, "optim.beta.1"), "0.99") == 0);
  CHECK(strcmp(get(j, "optim.beta"), "[0.9,0.99]") == 0);
  CHECK(strcmp(get(j, "layers.0.w"), "64") == 0);
  CHECK(strcmp(get(j, "n"), "null") == 0);
  CHECK(strcmp(get(j, "s"), "\"x\\\"y\"") == 0);
  CHECK(strcmp(get(j, "missing"), "<none>") == 0);
  CHECK(strcmp(get(j, "optim.beta.2"), "<none>") == 0);
  CHECK(strcmp(get(j, "optim.name.x"), "<none>") == 0);
  CHECK(strcmp(get(j, "optim.a.b"), "<none>") == 0); /* dots split the path */
  size_t n;
  const char *o = tunelua_json_get(j, "optim", &n);
  const char *m = tunelua_json_member(o, "a.b", &n);
  CHECK(m && n == 1 && *m == '1');
  CHECK(strcmp(get("{\"k\\u0065y\":5}", "key"), "5") == 0); /* escaped key */
  CHECK(strcmp(get(" [1,2] ", ""), "[1,2]") == 0);
}

static void test_string(void) {
  const char *tok = "\"a\\n\\t\\\"\\\\\\/\\u00e9\\u20ac\\ud83d\\ude00\\ud800x\"";
  char *s = tunelua_json_string(tok, strlen(tok));
  CHECK(s && strcmp(s, "a\n\t\"\\/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbdx") == 0);
  free(s);
  CHECK(tunelua_json_string("5", 1) == NULL);
}

static void test_escape(void) {
  CHECK(strcmp(esc("plain"), "\"plain\"") == 0);
  CHECK(strcmp(esc("q\"b\\"), "\"q\\\"b\\\\\"") == 0);
  CHECK(strcmp(esc("\n\r\t\b\f\x01\x1f\x7f"), "\"\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\"") == 0);
  CHECK(strcmp(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
               "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"") == 0);
  CHECK(strcmp(esc("bad\xff\xc3(\xed\xa0\x80"), "\"bad\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\"") == 0);
  CHECK(strcmp(esc("\xc0\xaf"), "\"\\ufffd\\ufffd\"") == 0); /* overlong */
  CHECK(strcmp(esc(""), "\"\"") == 0);
  char small[4];
  size_t n = tunelua_json_escape(small, sizeof small, "abcdef");
  CHECK(n == 8 && strcmp(small, "\"ab") == 0);
  /* every escape reads back */
  const char *samples[] = {"x\"\\\n\x02y", "\xe2\x82\xac", "tab\there"};
  for (size_t i = 0; i < 3; i++) {
    char buf[64];
    size_t len = tunelua_json_escape(buf, sizeof buf, samples[i]);
    char *back = tunelua_json_string(buf, len);
    CHECK(tunelua_json_valid(buf) && back && strcmp(back, samples[i]) == 0);
    free(back);
  }
}

static void test_sanitize(void) {
  tunelua__buf b = {NULL, 0, 0, 0};
  tunelua__sanitize(&b, "{\"a\":nan,\"b\":-inf,\"c\":INF,\"d\":-nan,\"e\":\"nan inf\","
                        "\"f\":infinity,\"g\":1e5,\"h\":nan(0x8)}");
  CHECK(b.d && strcmp(b.d, "{\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"e\":\"nan inf\","
                           "\"f\":null,\"g\":1e5,\"h\":null}") == 0);
  CHECK(b.d && tunelua_json_valid(b.d));
  tunelua__free(&b);
}

/* Standalone mode: reports go to stdout; capture them through a pipe-less temp file. */
static void test_standalone(void) {
  setenv("TUNELUA_PARAMS", "{\"lr\":0.5,\"n\":3,\"name\":\"r\\u00e9\",\"opt\":{\"on\":true}}", 1);
  unsetenv("TUNELUA_CONNECT");
  setenv("TUNELUA_RESTORE", "/tmp/somewhere", 1);
  setenv("TUNELUA_SHARED", "{\"data\":\"/tmp/data\"}", 1);
  CHECK(tunelua_param_double("lr", 0) == 0.5);
  CHECK(tunelua_param_int("n", 0) == 3);
  CHECK(tunelua_param_int("lr", 7) == 0);
  CHECK(tunelua_param_int("missing", 7) == 7);
  CHECK(tunelua_param_double("name", -1) == -1);
  CHECK(tunelua_param_bool("opt.on", 0) == 1);
  const char *name = tunelua_param_string("name");
  CHECK(name && strcmp(name, "r\xc3\xa9") == 0);
  CHECK(name == tunelua_param_string("name")); /* cached */
  CHECK(tunelua_param_string("lr") == NULL);
  CHECK(strcmp(tunelua_param_json("opt"), "{\"on\":true}") == 0);
  CHECK(strcmp(tunelua_restore_dir(), "/tmp/somewhere") == 0);
  CHECK(strcmp(tunelua_shared("data"), "/tmp/data") == 0);
  CHECK(tunelua_shared("none") == NULL);

  char path[] = "/tmp/tunelua-test-client-XXXXXX";
  int fd = mkstemp(path);
  fflush(stdout);
  FILE *saved = stdout;
  FILE *f = fdopen(fd, "w+");
  stdout = f;
  int a1 = tunelua_reportf("\"loss\":%g,\"bad\":%g,\"s\":\"%s\"", 0.25, strtod("nan", NULL), "nan");
  tunelua_metric_double("x", strtod("inf", NULL));
  tunelua_metric_int("i", -4);
  tunelua_metric_string("t", "a\"b");
  tunelua_metric_bool("ok", 1);
  tunelua_metric_json("h", "[1,2]");
  tunelua_metric_double("y", 0.1);
  int a2 = tunelua_report_metrics();
  int a3 = tunelua_report("{}");
  int a4 = tunelua_report("{\"a\":}");
  fflush(f);
  stdout = saved;
  CHECK(a1 == TUNELUA_CONTINUE && a2 == TUNELUA_CONTINUE && a3 == TUNELUA_CONTINUE);
  CHECK(a4 == TUNELUA_ERROR && strstr(tunelua_error(), "JSON object"));
  char out[1024] = {0};
  rewind(f);
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  fclose(f);
  remove(path);
  CHECK(strcmp(out, "[tunelua] report {\"loss\":0.25,\"bad\":null,\"s\":\"nan\","
                    "\"training_iteration\":1}\n"
                    "[tunelua] report {\"x\":null,\"i\":-4,\"t\":\"a\\\"b\",\"ok\":true,"
                    "\"h\":[1,2],\"y\":0.1,\"training_iteration\":2}\n"
                    "[tunelua] report {\"training_iteration\":3}\n") == 0);
  if (failed) fprintf(stderr, "stdout was:\n%s", out);
  CHECK(tunelua_iteration() == 3);
  CHECK(strcmp(tunelua_trial_id(), "standalone") == 0 || getenv("TUNELUA_TRIAL_ID"));
}

int main(void) {
  test_valid();
  test_get();
  test_string();
  test_escape();
  test_sanitize();
  test_standalone();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
