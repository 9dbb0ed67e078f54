#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

#include "journal.h"
#include "test.h"
#include "trial.h"
#include "util.h"

static char *num(double v) {
  static tl_buf b;
  tl_buf_reset(&b);
  tl_buf_add_num(&b, v);
  return b.data;
}

TEST(numbers_read_back_exactly) {
  CHECK_STR(num(3), "3");
  CHECK_STR(num(-0.5), "-0.5");
  CHECK_STR(num(0.1), "0.1");
  CHECK_STR(num(1e20), "1e+20");
  CHECK_STR(num(NAN), "null");
  CHECK_STR(num(INFINITY), "null");
  double tricky = 0.1 + 0.2;
  CHECK(strtod(num(tricky), NULL) == tricky);
  CHECK(strtod(num(1.0 / 3), NULL) == 1.0 / 3);
}

TEST(json_strings_are_escaped) {
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_add_json_str(&b, "a\"b\\c\nd\x01");
  CHECK_STR(b.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
  cJSON *j = cJSON_Parse(b.data);
  CHECK(cJSON_IsString(j));
  CHECK_STR(j->valuestring, "a\"b\\c\nd\x01");
  cJSON_Delete(j);
  tl_buf_free(&b);
}

TEST(atomic_write_and_last_line) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *p = tl_strfmt("%s/f.txt", dir);
  CHECK(tl_write_file_atomic(p, "one\ntwo\n\n", 9) == 0);
  char *last = tl_last_line(p, 4096);
  CHECK_STR(last, "two");
  free(last);
  size_t n;
  char *all = tl_read_file(p, &n);
  CHECK(n == 9 && memcmp(all, "one\ntwo\n\n", 9) == 0);
  free(all);
  char *tmp = tl_strfmt("%s.tmp", p);
  CHECK(access(tmp, F_OK) != 0); /* no temporary left behind */
  unlink(p);
  rmdir(dir);
  free(p), free(tmp);
}

TEST(mkdirs_makes_every_level) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *deep = tl_strfmt("%s/a/b/c", dir);
  CHECK(tl_mkdirs(deep) == 0);
  CHECK(access(deep, F_OK) == 0);
  CHECK(tl_mkdirs(deep) == 0); /* idempotent */
  char *cmd = tl_strfmt("rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  free(deep), free(cmd);
}

TEST(journal_lines_are_json_objects) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *p = tl_strfmt("%s/journal.jsonl", dir);
  tl_journal j;
  const char *err;
  CHECK(tl_journal_open(&j, p, &err) == 0);
  tl_buf *b = tl_journal_begin(&j, "result", "00001");
  tl_buf_adds(b, ",\"result\":{\"loss\":0.5}");
  CHECK(tl_journal_end(&j) == 0);
  tl_journal_begin(&j, "experiment", NULL);
  CHECK(tl_journal_end(&j) == 0);
  tl_journal_close(&j);
  char *all = tl_read_file(p, NULL);
  char *nl = strchr(all, '\n');
  CHECK(nl);
  cJSON *first = cJSON_ParseWithLength(all, (size_t)(nl - all));
  CHECK(first);
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "ev")), "result");
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "trial")), "00001");
  CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(first, "result"), "loss")->valuedouble == 0.5);
  CHECK(cJSON_IsNumber(cJSON_GetObjectItem(first, "t")));
  cJSON *second = cJSON_Parse(nl + 1);
  CHECK(second && !cJSON_GetObjectItem(second, "trial"));
  cJSON_Delete(first), cJSON_Delete(second);
  free(all);
  unlink(p), rmdir(dir), free(p);
}

TEST(journal_write_failure_is_sticky) {
  tl_journal j;
  const char *err;
  CHECK(tl_journal_open(&j, "/dev/full", &err) == 0);
  tl_journal_begin(&j, "x", NULL);
  CHECK(tl_journal_end(&j) != 0);
  CHECK(j.failed && j.error);
  tl_journal_begin(&j, "y", NULL);
  CHECK(tl_journal_end(&j) != 0);
  tl_journal_close(&j);
}

typedef struct {
  tl_buf out;
} flat;
static void add_flat(void *ud, const char *key, const cJSON *v) {
  flat *f = ud;
  char *s = cJSON_PrintUnformatted(v);
  tl_buf_printf(&f->out, "%s=%s;", key, s);
  free(s);
}

TEST(nested_metrics_flatten_with_slashes) {
  cJSON *j = cJSON_Parse("{\"a\":1,\"b\":{\"c\":2,\"d\":{\"e\":\"x\"}},\"f\":[1,2],\"g\":{}}");
  flat f;
  tl_buf_init(&f.out);
  tl_buf prefix;
  tl_buf_init(&prefix);
  tl_json_flatten(j, &prefix, add_flat, &f);
  CHECK_STR(f.out.data, "a=1;b/c=2;b/d/e=\"x\";f=[1,2];g={};");
  cJSON_Delete(j);
  tl_buf_free(&f.out), tl_buf_free(&prefix);
}
