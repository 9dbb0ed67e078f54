#include "console.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "trial.h"

typedef struct tl_console {
  int tty;
  int drawn;          /* lines of the live block on screen */
  double last_plain;  /* loop clock of the last plain line */
  double interval;    /* seconds between plain lines */
} tl_console;

static int term_width(void) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 100;
}

void tl_console_start(tl_engine *e) {
  tl_console *c = tl_xcalloc(1, sizeof *c);
  c->tty = isatty(STDOUT_FILENO) && !e->opt.json;
  const char *iv = getenv("TUNELUA_PROGRESS_INTERVAL");
  c->interval = iv ? atof(iv) : 5;
  c->last_plain = 0;
  e->console = c;
  if (!e->opt.quiet && !e->opt.json)
    printf("tunelua: experiment %s in %s\n  %g CPUs (%s), %g GPUs; seed %ld\n", e->name, e->dir,
           e->cpus_total, e->cpu_source, e->gpus_total, e->seed);
  fflush(stdout);
}

/* "k=v k=v" of a flat JSON object, numbers short. */
static void add_config(tl_buf *b, const cJSON *cfg) {
  int first = 1;
  for (const cJSON *c = cfg ? cfg->child : NULL; c; c = c->next) {
    tl_buf_printf(b, "%s%s=", first ? "" : " ", c->string);
    first = 0;
    if (cJSON_IsNumber(c)) tl_buf_printf(b, "%.4g", c->valuedouble);
    else if (cJSON_IsString(c)) tl_buf_adds(b, c->valuestring);
    else {
      char *s = tl_json_print(c);
      tl_buf_adds(b, s);
      free(s);
    }
  }
}

static void add_best(tl_engine *e, tl_buf *b) {
  double v;
  int best = tl_trial_best(e, &v);
  if (best < 0) {
    tl_buf_adds(b, "best: none yet");
    return;
  }
  tl_trial *t = e->trials[best];
  tl_buf_printf(b, "best: trial %s %s=%.6g (iter %ld) ", t->id, e->metric, v, t->iterations);
  add_config(b, t->config);
}

static void add_counts(tl_engine *e, tl_buf *b) {
  double el = tl_engine_now(e) - e->started;
  tl_buf_printf(b, "%.0fs | %d running, %d pending, %d paused, %d terminated, %d error | %g/%g CPUs | %ld results",
                el, e->counts[TL_RUNNING], e->counts[TL_PENDING], e->counts[TL_PAUSED],
                e->counts[TL_TERMINATED], e->counts[TL_ERROR], e->cpus_used, e->cpus_total, e->results);
}

static void clear_block(tl_console *c) {
  for (int i = 0; i < c->drawn; i++) fputs("\033[1A\r\033[2K", stdout);
  c->drawn = 0;
}

static void put_line(tl_buf *b, int width) {
  if (width > 0 && (int)b->len > width - 1) {
    b->len = (size_t)(width - 1);
    b->data[b->len] = 0;
  }
  fputs(b->data, stdout);
  fputc('\n', stdout);
}

void tl_console_tick(tl_engine *e) {
  tl_console *c = e->console;
  if (!c || e->opt.quiet) return;
  double now = tl_engine_now(e);
  tl_buf b;
  tl_buf_init(&b);
  if (e->opt.json) {
    if (now - c->last_plain < 1) goto done;
    double v;
    int best = tl_trial_best(e, &v);
    tl_buf_adds(&b, "{\"ev\":\"progress\",\"elapsed_s\":");
    tl_buf_add_num(&b, floor((now - e->started) * 1000) / 1000);
    for (int s = 0; s < 5; s++) tl_buf_printf(&b, ",\"%s\":%d", tl_status_name((tl_status)s), e->counts[s]);
    tl_buf_printf(&b, ",\"results\":%ld,\"best_trial\":", e->results);
    if (best >= 0) {
      tl_buf_add_json_str(&b, e->trials[best]->id);
      tl_buf_adds(&b, ",\"best\":");
      tl_buf_add_num(&b, v);
    } else {
      tl_buf_adds(&b, "null");
    }
    tl_buf_adds(&b, "}");
    put_line(&b, 0);
    c->last_plain = now;
  } else if (c->tty) {
    int w = term_width();
    clear_block(c);
    tl_buf_printf(&b, "== %s: ", e->name);
    add_counts(e, &b);
    put_line(&b, w);
    tl_buf_reset(&b);
    add_best(e, &b);
    put_line(&b, w);
    c->drawn = 2;
  } else if (now - c->last_plain >= c->interval) {
    add_counts(e, &b);
    tl_buf_adds(&b, " | ");
    add_best(e, &b);
    put_line(&b, 0);
    c->last_plain = now;
  }
done:
  tl_buf_free(&b);
  fflush(stdout);
}

void tl_console_message(tl_engine *e, const char *fmt, ...) {
  tl_console *c = e->console;
  if (c && c->tty) clear_block(c);
  fflush(stdout);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

static tl_engine *sort_engine;
static int by_metric(const void *a, const void *b) {
  const tl_trial *x = *(tl_trial *const *)a, *y = *(tl_trial *const *)b;
  const cJSON *mx = x->last_result ? cJSON_GetObjectItemCaseSensitive(x->last_result, sort_engine->metric) : NULL;
  const cJSON *my = y->last_result ? cJSON_GetObjectItemCaseSensitive(y->last_result, sort_engine->metric) : NULL;
  int hx = cJSON_IsNumber(mx), hy = cJSON_IsNumber(my);
  if (hx != hy) return hy - hx;
  if (!hx || mx->valuedouble == my->valuedouble) return x->index - y->index;
  int lt = mx->valuedouble < my->valuedouble;
  return (sort_engine->mode < 0) == lt ? -1 : 1;
}

void tl_console_finish(tl_engine *e, const char *status) {
  tl_console *c = e->console;
  if (!c) return;
  if (c->tty) clear_block(c);
  double v;
  int best = tl_trial_best(e, &v);
  tl_buf b;
  tl_buf_init(&b);
  if (!e->opt.quiet && !e->opt.json) {
    tl_trial **order = tl_xmalloc((size_t)(e->ntrials ? e->ntrials : 1) * sizeof *order);
    memcpy(order, e->trials, (size_t)e->ntrials * sizeof *order);
    if (e->metric) {
      sort_engine = e;
      qsort(order, (size_t)e->ntrials, sizeof *order, by_metric);
    }
    int show = e->ntrials < 10 ? e->ntrials : 10;
    printf("\n%-8s %-10s %5s %12s  %s\n", "trial", "status", "iter", e->metric ? e->metric : "-", "config");
    for (int i = 0; i < show; i++) {
      tl_trial *t = order[i];
      const cJSON *m = t->last_result && e->metric ? cJSON_GetObjectItemCaseSensitive(t->last_result, e->metric) : NULL;
      tl_buf_reset(&b);
      add_config(&b, t->config);
      char val[32] = "-";
      if (cJSON_IsNumber(m)) snprintf(val, sizeof val, "%.6g", m->valuedouble);
      printf("%-8s %-10s %5ld %12s  %s\n", t->id, tl_status_name(t->status), t->iterations, val, b.data ? b.data : "");
    }
    if (e->ntrials > show) printf("... %d more in %s/summary.json\n", e->ntrials - show, e->dir);
    free(order);
    tl_buf_reset(&b);
    add_counts(e, &b);
    printf("\n%s: %s\n", status, b.data);
  }
  if (e->opt.json) {
    tl_buf_reset(&b);
    tl_buf_adds(&b, "{\"ev\":\"end\",\"status\":");
    tl_buf_add_json_str(&b, status);
    tl_buf_adds(&b, ",\"best_trial\":");
    if (best >= 0) tl_buf_add_json_str(&b, e->trials[best]->id);
    else tl_buf_adds(&b, "null");
    tl_buf_adds(&b, ",\"dir\":");
    tl_buf_add_json_str(&b, e->dir);
    tl_buf_adds(&b, "}");
    put_line(&b, 0);
  } else if (best >= 0) {
    tl_trial *t = e->trials[best];
    char *cfg = tl_json_print(t->config);
    printf("Best trial %s: %s=%.6g after %ld iterations, config %s\n", t->id, e->metric, v,
           t->iterations, cfg);
    free(cfg);
  } else {
    printf("No trial reported %s.\n", e->metric ? e->metric : "a metric (set metric= in the experiment)");
  }
  if (!e->opt.json) printf("Results in %s\n", e->dir);
  tl_buf_free(&b);
  fflush(stdout);
}

void tl_console_free(tl_engine *e) {
  free(e->console);
  e->console = NULL;
}
