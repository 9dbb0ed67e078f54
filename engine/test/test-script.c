/* The Lua bridge: the embedded runtime loads an experiment, hands out trials, takes results. */
#include <unistd.h>

#include "engine.h"
#include "script.h"
#include "test.h"
#include "util.h"

static char *write_exp(const char *dir, const char *body) {
  char *p = tl_strfmt("%s/exp.lua", dir);
  tl_write_file_atomic(p, body, strlen(body));
  return p;
}

static const char *experiment =
    "local tune = require 'tunelua'\n"
    "return tune.experiment {\n"
    "  trainer = { cmd = { 'true' }, resources = { cpu = 0.5 }, env = { A = 1 } },\n"
    "  config = { x = tune.grid_search { 1, 2 }, y = { z = 'k' } },\n"
    "  metric = 'loss', mode = 'min', stop = { loss = 10 },\n"
    "}\n";

TEST(loads_the_experiment_into_the_engine) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  tl_engine e = {0};
  e.opt.exp_path = write_exp(dir, experiment);
  e.opt.seed = 7;
  char *err = NULL;
  tl_script *s = tl_script_new(NULL, &err);
  CHECK(s);
  CHECK(tl_script_load(s, &e, &err) == 0);
  CHECK_STR(e.name, "exp");
  CHECK_STR(e.metric, "loss");
  CHECK(e.mode == -1);
  CHECK_STR(e.cmd[0], "true");
  CHECK(e.cmd[1] == NULL);
  CHECK_STR(e.env[0], "A=1");
  CHECK(e.cpu_per_trial == 0.5);
  CHECK(e.seed == 7);
  e.dir = dir;
  CHECK(tl_script_start(s, &e, &err) == 0);

  int idx, wait, count;
  CHECK(tl_script_next(s, &idx, &wait, &count, &err) == 0);
  CHECK(idx == 0 && count == 1 && !wait);
  char *id;
  cJSON *cfg;
  CHECK(tl_script_trial(s, 0, &id, &cfg, &err) == 0);
  CHECK_STR(id, "00000");
  char *json = cJSON_PrintUnformatted(cfg);
  CHECK(strstr(json, "\"x\":1") && strstr(json, "\"y\":{\"z\":\"k\"}"));
  free(json), free(id), cJSON_Delete(cfg);

  CHECK(tl_script_status(s, 0, "RUNNING", 0, &err) == 0);
  const char *action;
  int ckpt, by_rule, source;
  cJSON *r = cJSON_Parse("{\"loss\":3,\"training_iteration\":1,\"nested\":{\"a\":[1,2]}}");
  CHECK(tl_script_result(s, 0, r, &action, &ckpt, &by_rule, &source, &err) == 0);
  CHECK_STR(action, "continue");
  cJSON_Delete(r);
  r = cJSON_Parse("{\"loss\":12,\"training_iteration\":2}");
  CHECK(tl_script_result(s, 0, r, &action, &ckpt, &by_rule, &source, &err) == 0);
  CHECK_STR(action, "stop"); /* the stop table: loss >= 10 */
  CHECK(by_rule);
  cJSON_Delete(r);
  CHECK(tl_script_complete(s, 0, 1, &err) == 0);

  CHECK(tl_script_next(s, &idx, &wait, &count, &err) == 0);
  CHECK(idx == 1 && count == 2);
  CHECK(tl_script_status(s, 1, "TERMINATED", 0, &err) == 0);
  CHECK(tl_script_next(s, &idx, &wait, &count, &err) == 0);
  CHECK(idx == -1 && count == 2); /* grid of 2, one sample each: exhausted */
  tl_script_free(s);
  unlink(e.opt.exp_path);
  rmdir(dir);
  free((char *)e.opt.exp_path);
  for (char **p = e.cmd; *p; p++) free(*p);
  for (char **p = e.env; *p; p++) free(*p);
  free(e.cmd), free(e.env), free(e.shared), free(e.name), free(e.metric);
}

TEST(experiment_errors_name_file_line_and_path) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  tl_engine e = {0};
  e.opt.exp_path = write_exp(dir, "local tune = require 'tunelua'\n"
                                  "return tune.experiment { trainer = { cmd = {'true'} },\n"
                                  "  config = { optim = { lr = tune.loguniform(0, 1) } } }\n");
  e.opt.seed = 1;
  char *err = NULL;
  tl_script *s = tl_script_new(NULL, &err);
  CHECK(s);
  CHECK(tl_script_load(s, &e, &err) != 0);
  CHECK(strstr(err, "exp.lua:3:") != NULL);
  CHECK(strstr(err, "config.optim.lr") != NULL);
  CHECK(strstr(err, "stack traceback") == NULL); /* a user error, not a crash */
  free(err);
  tl_script_free(s);
  unlink(e.opt.exp_path);
  rmdir(dir);
  free((char *)e.opt.exp_path);
}

TEST(scheduler_errors_carry_a_traceback) {
  char dir[] = "/tmp/tl-test-XXXXXX";
  CHECK(mkdtemp(dir));
  tl_engine e = {0};
  e.opt.exp_path = write_exp(dir, "local tune = require 'tunelua'\n"
                                  "local bad = { on_result = function() error('boom') end }\n"
                                  "return tune.experiment { trainer = { cmd = {'true'} },\n"
                                  "  scheduler = bad }\n");
  e.opt.seed = 1;
  char *err = NULL;
  tl_script *s = tl_script_new(NULL, &err);
  CHECK(s);
  CHECK(tl_script_load(s, &e, &err) == 0);
  e.dir = dir;
  CHECK(tl_script_start(s, &e, &err) == 0);
  int idx, wait, count;
  CHECK(tl_script_next(s, &idx, &wait, &count, &err) == 0 && idx == 0);
  char *id;
  cJSON *cfg;
  CHECK(tl_script_trial(s, 0, &id, &cfg, &err) == 0);
  free(id), cJSON_Delete(cfg);
  cJSON *r = cJSON_Parse("{\"training_iteration\":1}");
  const char *action;
  int ckpt, by_rule, source;
  CHECK(tl_script_result(s, 0, r, &action, &ckpt, &by_rule, &source, &err) != 0);
  CHECK(strstr(err, "exp.lua:2: boom") != NULL);
  CHECK(strstr(err, "stack traceback") != NULL);
  free(err);
  cJSON_Delete(r);
  tl_script_free(s);
  free(e.cmd[0]), free(e.cmd), free(e.env), free(e.shared), free(e.name);
  unlink(e.opt.exp_path);
  rmdir(dir);
  free((char *)e.opt.exp_path);
}
