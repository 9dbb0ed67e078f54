/* libFuzzer target: `tunelua resume`'s reading of journal.jsonl.
 *
 * Input: one flag byte, then the journal's text.
 *   flag bits 0-1: experiment.lua of the run (fixture.h: 0 FIFO, 1 ASHA, 2 PBT; 3 means 0)
 *   flag bit 2:    after the replay, tl_resume_running (trials that were running go back to
 *                  PENDING, or end as the journal's last decision said)
 * Unless the text starts with {"ev":"experiment" it is put after a valid experiment line.
 * Then, as `tunelua resume DIR` does: tl_resume_prepare (tl_journal_repair cuts a torn last
 * line, the experiment line fills the options), the script is loaded with those options and
 * started, and tl_resume_replay replays every event into the engine and the Lua scheduler.
 *
 * One thing is filtered out: a trial id with a '/' in it. The replay makes DIR/trials/<id>
 * (mkdir -p) for each trial_added, so such an id would let the fuzzer create directories
 * anywhere on the machine. (The engine writes the ids itself; a hand-edited journal could
 * still do this: reported, not fixed here.) */
#include "fixture.h"
#include "resume.h"

static const char experiment_line[] =
    "{\"ev\":\"experiment\",\"t\":1700000000.5,\"name\":\"fz\",\"seed\":7,\"version\":\"0.1.0\","
    "\"cpus\":2,\"experiment\":\"experiment.lua\",\"path\":\"exp.lua\",\"cwd\":\"/\"}\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fz_init("fuzz-journal");
  return 0;
}

/* 1 when some line names a trial whose id holds a '/' (see above). */
static int has_path_id(const char *text, size_t len) {
  int bad = 0;
  for (size_t start = 0; start < len && !bad;) {
    const char *nl = memchr(text + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - text) + 1 : len;
    cJSON *ev = cJSON_ParseWithLength(text + start, end - start);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "trial"));
    bad = id && strchr(id, '/');
    cJSON_Delete(ev);
    start = end;
  }
  return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int flags = data[0];
  data++, size--;
  tl_buf text;
  tl_buf_init(&text);
  static const char ev_experiment[] = "{\"ev\":\"experiment\"";
  if (size < sizeof ev_experiment - 1 || memcmp(data, ev_experiment, sizeof ev_experiment - 1) != 0)
    tl_buf_adds(&text, experiment_line);
  tl_buf_add(&text, (const char *)data, size);
  if (has_path_id(text.data, text.len)) {
    tl_buf_free(&text);
    return 0;
  }
  fz_enter();
  char *dir = tl_strfmt("%s/run", fz_root);
  tl_mkdirs(dir);
  char *p = tl_strfmt("%s/experiment.lua", dir);
  const char *exp = fz_experiments[(flags & 3) % FZ_NEXPERIMENTS];
  fz_write_file(p, exp, strlen(exp));
  free(p);
  p = tl_strfmt("%s/journal.jsonl", dir);
  fz_write_file(p, text.data, text.len);
  tl_buf_free(&text);

  tl_options opt = {0};
  opt.seed = -1;
  opt.gpus = -1;
  opt.resume = dir;
  char *cwd = NULL, *err = NULL;
  if (tl_resume_prepare(&opt, &cwd, &err) != 0) {
    free(err);
    tl_remove_tree(dir);
    free(p), free(dir);
    fz_leave();
    return 0;
  }
  free(cwd);
  fz_engine f;
  if (fz_engine_open(&f, &opt, 0, 0, &err) == 0) {
    if (tl_resume_replay(&f.e, &err) == 0 && (flags & 4) && !f.e.simulate) tl_resume_running(&f.e);
  }
  free(err);
  fz_engine_close(&f); /* removes dir */
  free(p), free(dir);
  fz_leave();
  return 0;
}
