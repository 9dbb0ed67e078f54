#include "swap.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "script.h"

typedef struct tl_swap {
  uv_signal_t sighup;
  long at[16]; /* TUNELUA_SWAP_AT: swap after these result counts */
  int nat;
} tl_swap;

static void on_close(uv_handle_t *h) { free(h->data); }

static void on_sighup(uv_signal_t *h, int signum) {
  (void)signum;
  tl_swap_now(h->loop->data, "SIGHUP");
}

void tl_swap_init(tl_engine *e) {
  tl_swap *s = tl_xcalloc(1, sizeof *s);
  const char *at = getenv("TUNELUA_SWAP_AT");
  for (const char *p = at; p && *p && s->nat < 16;) {
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p) break;
    if (n > 0) s->at[s->nat++] = n;
    p = *end == ',' ? end + 1 : end;
  }
  e->swap = s;
  uv_signal_init(e->loop, &s->sighup);
  s->sighup.data = NULL;
  uv_signal_start(&s->sighup, on_sighup, SIGHUP);
  sigset_t hup; /* blocked since the engine started (loop.c): one sent meanwhile arrives now */
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &hup, NULL);
}

void tl_swap_close(tl_engine *e) {
  if (!e->swap) return;
  uv_signal_stop(&e->swap->sighup);
  e->swap->sighup.data = e->swap; /* freed with the handle */
  uv_close((uv_handle_t *)&e->swap->sighup, on_close);
  e->swap = NULL;
}

void tl_swap_free(tl_engine *e) {
  free(e->swap);
  e->swap = NULL;
}

void tl_swap_after_result(tl_engine *e) {
  if (!e->swap) return;
  for (int i = 0; i < e->swap->nat; i++)
    if (e->swap->at[i] == e->results) {
      char trigger[64];
      snprintf(trigger, sizeof trigger, "TUNELUA_SWAP_AT=%ld", e->results);
      tl_swap_now(e, trigger);
    }
}

/* Every line of DIR/journal.jsonl that the scheduler hears of, in order. */
static int replay(tl_engine *e, char **err) {
  tl_journal_flush(&e->journal); /* lines held for this loop turn's group commit, too */
  char *path = tl_strfmt("%s/journal.jsonl", e->dir);
  FILE *f = fopen(path, "r");
  free(path);
  if (!f) {
    *err = tl_strfmt("cannot read %s/journal.jsonl", e->dir);
    return -1;
  }
  static const char *kinds[] = {"trial_added", "result", "status", "exploit", "checkpoint", NULL};
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
    cJSON *ev = cJSON_ParseWithLength(line, (size_t)n);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "ev"));
    int wanted = 0;
    for (int i = 0; kind && kinds[i]; i++) wanted |= strcmp(kind, kinds[i]) == 0;
    if (wanted) rc = tl_script_swap_event(e->script, ev, err);
    cJSON_Delete(ev);
  }
  free(line);
  fclose(f);
  return rc;
}

/* Copies a scheduler file into DIR/swaps/NNN.lua, so that a resume rebuilds what ran; returns
 * the copy's path relative to DIR (owned), or NULL. */
static char *keep_copy(const char *dir, const char *file) {
  char *swaps = tl_strfmt("%s/swaps", dir);
  tl_mkdirs(swaps);
  free(swaps);
  for (int i = 1; i < 1000; i++) {
    char *rel = tl_strfmt("swaps/%03d.lua", i);
    char *abs = tl_strfmt("%s/%s", dir, rel);
    int free_slot = access(abs, F_OK) != 0;
    int ok = free_slot && tl_copy_file(file, abs) == 0;
    free(abs);
    if (ok) return rel;
    free(rel);
    if (free_slot) return NULL;
  }
  return NULL;
}

static void journal_spec(tl_buf *b, const char *name, const char *file) {
  if (file) {
    tl_buf_adds(b, ",\"file\":");
    tl_buf_add_json_str(b, file);
  } else if (name) {
    tl_buf_adds(b, ",\"name\":");
    tl_buf_add_json_str(b, name);
  }
}

int tl_swap_now(tl_engine *e, const char *trigger) {
  char *name = NULL, *source = NULL, *file = NULL, *err = NULL;
  if (e->finished || e->script_failed || e->interrupted) {
    tl_console_message(e, "tunelua: %s: the experiment is ending; no hot swap", trigger);
    return -1;
  }
  uint64_t t0 = uv_hrtime();
  int rc = tl_script_swap_begin(e->script, e->dir, &name, &source, &file, &err);
  if (rc == 0) {
    rc = replay(e, &err);
    char *ferr = NULL;
    if (tl_script_swap_finish(e->script, rc == 0, &ferr) != 0) {
      if (rc == 0) err = ferr;
      else free(ferr);
      rc = -1;
    }
  }
  tl_buf *b;
  if (rc != 0) {
    const char *why = err ? err : "unknown error";
    tl_console_message(e, "tunelua: warning: hot swap (%s) failed; the scheduler is unchanged:\n%s",
                       trigger, why);
    b = tl_journal_begin(&e->journal, "swap_failed", NULL);
    tl_buf_adds(b, ",\"trigger\":");
    tl_buf_add_json_str(b, trigger);
    tl_buf_adds(b, ",\"error\":");
    tl_buf_add_json_str(b, why);
    tl_journal_end(&e->journal);
  } else {
    char *copy = file ? keep_copy(e->dir, file) : NULL;
    b = tl_journal_begin(&e->journal, "swap", NULL);
    tl_buf_adds(b, ",\"scheduler\":");
    tl_buf_add_json_str(b, name);
    tl_buf_adds(b, ",\"source\":");
    tl_buf_add_json_str(b, source);
    tl_buf_adds(b, ",\"trigger\":");
    tl_buf_add_json_str(b, trigger);
    tl_buf_printf(b, ",\"results\":%ld", e->results);
    journal_spec(b, file ? NULL : e->opt.scheduler, copy);
    tl_journal_end(&e->journal);
    tl_console_message(e, "tunelua: hot swap (%s): scheduler %s from %s, %ld results replayed "
                       "in %.0f ms", trigger, name, source, e->results,
                       (double)(uv_hrtime() - t0) / 1e6);
    free(copy);
    tl_engine_kick(e);
  }
  free(name), free(source), free(file), free(err);
  return rc == 0 ? 0 : -1;
}

/* What the resume was given, or found, for the journal line written after the replay. */
static struct {
  int given;
  char name[4096], file[64], path[PATH_MAX + 64];
} resumed;

/* The last "swap" line of DIR/journal.jsonl, or NULL (owned). */
static cJSON *last_swap(const char *dir) {
  char *path = tl_strfmt("%s/journal.jsonl", dir);
  FILE *f = fopen(path, "r");
  free(path);
  if (!f) return NULL;
  cJSON *last = NULL;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    if (!strstr(line, "\"ev\":\"swap\"")) continue;
    cJSON *ev = cJSON_ParseWithLength(line, (size_t)n);
    if (!ev) continue;
    cJSON_Delete(last);
    last = ev;
  }
  free(line);
  fclose(f);
  return last;
}

static char *absolute(const char *p) {
  char cwd[PATH_MAX];
  if (p[0] == '/' || !getcwd(cwd, sizeof cwd)) return tl_strdup(p);
  return tl_strfmt("%s/%s", cwd, p);
}

void tl_swap_resume_prepare(tl_options *opt) {
  char *dir = absolute(opt->resume);
  if (opt->scheduler) {
    resumed.given = 1;
    char *copy = strstr(opt->scheduler, ".lua") ? keep_copy(dir, opt->scheduler) : NULL;
    if (copy) {
      snprintf(resumed.file, sizeof resumed.file, "%s", copy);
      snprintf(resumed.path, sizeof resumed.path, "%s/%s", dir, copy);
      opt->scheduler = resumed.path;
      free(copy);
    } else {
      snprintf(resumed.name, sizeof resumed.name, "%s", opt->scheduler);
    }
  } else {
    cJSON *ev = last_swap(dir);
    const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "file"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "name"));
    if (file && !strstr(file, "..")) {
      snprintf(resumed.path, sizeof resumed.path, "%s/%s", dir, file);
      opt->scheduler = resumed.path;
    } else if (name) {
      snprintf(resumed.name, sizeof resumed.name, "%s", name);
      opt->scheduler = resumed.name;
    }
    cJSON_Delete(ev);
  }
  free(dir);
}

void tl_swap_resume_journal(tl_engine *e) {
  if (!resumed.given) return;
  tl_buf *b = tl_journal_begin(&e->journal, "swap", NULL);
  tl_buf_adds(b, ",\"source\":\"--scheduler\",\"trigger\":\"resume\"");
  tl_buf_printf(b, ",\"results\":%ld", e->results);
  journal_spec(b, resumed.name, resumed.file[0] ? resumed.file : NULL);
  tl_journal_end(&e->journal);
  resumed.given = 0;
}
