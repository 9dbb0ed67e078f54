#include "console.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "resources.h"
#include "script.h"
#include "table.h"
#include "trial.h"

#define TOP_ROWS 8    /* most rows of the best trials in the live table */
#define RECENT_ROWS 8 /* most rows of the latest trials */

typedef struct tl_console {
  int tty;
  int drawn;         /* lines of the live block on screen */
  double last_plain; /* loop clock of the last plain line */
  double interval;   /* seconds between plain lines */
  tl_buf frame;      /* the live block last drawn (plain text), redrawn after a message */
  tl_buf out;        /* what one redraw writes, escapes included (reused) */
} tl_console;

/* The terminal's size, asked at every redraw so that a resized window is followed; COLUMNS
 * and LINES when the terminal does not say, else 80x24. */
static void term_size(int *w, int *h) {
  struct winsize ws;
  *w = 0, *h = 0;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) *w = ws.ws_col, *h = ws.ws_row;
  if (*w <= 0 && getenv("COLUMNS")) *w = atoi(getenv("COLUMNS"));
  if (*h <= 0 && getenv("LINES")) *h = atoi(getenv("LINES"));
  if (*w <= 0) *w = 80;
  if (*h <= 0) *h = 24;
  if (*w < 20) *w = 20;
}

void tl_console_start(tl_engine *e) {
  tl_console *c = tl_xcalloc(1, sizeof *c);
  c->tty = isatty(STDOUT_FILENO) && !e->opt.json;
  const char *iv = getenv("TUNELUA_PROGRESS_INTERVAL");
  c->interval = iv ? atof(iv) : 5;
  c->last_plain = 0;
  tl_buf_init(&c->frame);
  tl_buf_init(&c->out);
  e->console = c;
  if (!e->opt.quiet && !e->opt.json)
    printf("tunelua: experiment %s in %s\n  %g CPUs (%s), %g GPUs; seed %ld\n", e->name, e->dir,
           e->cpus_total, e->cpu_source, e->gpus_total, e->seed);
  fflush(stdout);
}

/* "k=v k=v" of a config, nested keys flattened ("optim/lr"), numbers short. */
static void add_kv(void *ud, const char *key, const cJSON *v) {
  tl_buf *b = ud;
  char cell[64];
  tl_table_fmt(v, cell, sizeof cell);
  tl_buf_printf(b, "%s%s=%s", b->len && b->data[b->len - 1] != ' ' ? " " : "", key, cell);
}

static void add_config(tl_buf *b, const cJSON *cfg) {
  if (!cJSON_IsObject(cfg)) return;
  tl_buf prefix;
  tl_buf_init(&prefix);
  tl_json_flatten(cfg, &prefix, add_kv, b);
  tl_buf_free(&prefix);
}

static int metric_value(tl_engine *e, const tl_trial *t, double *v) {
  return tl_trial_metric(e, t, v);
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
  add_config(b, tl_trial_config(t));
}

static void add_counts(tl_engine *e, tl_buf *b) {
  double el = tl_engine_now(e) - e->started;
  tl_buf_printf(b,
                "%.0fs | %d running, %d pending, %d paused, %d terminated, %d error | %g/%g CPUs",
                el, e->counts[TL_RUNNING], e->counts[TL_PENDING], e->counts[TL_PAUSED],
                e->counts[TL_TERMINATED], e->counts[TL_ERROR], e->cpus_used, e->cpus_total);
  double gu, mu, mt;
  tl_resources_usage(e, &gu, &mu, &mt);
  if (e->gpus_total > 0) tl_buf_printf(b, " | %g/%g GPUs", gu, e->gpus_total);
  tl_buf_printf(b, " | %ld results", e->results);
}

/* Lines of a block in b, from start, cut to width bytes (escapes never go in b). */
static void cut_line(tl_buf *b, size_t start, int width) {
  if (width > 0 && b->len - start > (size_t)width) b->len = start + (size_t)width;
  tl_buf_addc(b, '\n');
}

/* The k trials with the best last result, best first: one pass over the trials with an
 * insertion into a list of at most k (k is small). */
static int pick_top(tl_engine *e, int *out, double *val, int k) {
  int n = 0;
  for (int i = 0; i < e->ntrials && k > 0; i++) {
    double v;
    if (!metric_value(e, e->trials[i], &v)) continue;
    int at = n;
    while (at > 0 && (e->mode < 0 ? v < val[at - 1] : v > val[at - 1])) at--;
    if (at >= k) continue;
    int last = n < k ? n : k - 1;
    for (int j = last; j > at; j--) out[j] = out[j - 1], val[j] = val[j - 1];
    out[at] = i, val[at] = v;
    if (n < k) n++;
  }
  return n;
}

/* The k trials that reported (or started) last, newest first, leaving out those in skip. */
static int pick_recent(tl_engine *e, int *out, int k, const int *skip, int nskip) {
  int n = 0;
  for (int i = e->ntrials - 1; i >= 0 && k > 0; i--) {
    tl_trial *t = e->trials[i];
    if (t->status == TL_PENDING && t->iterations == 0) continue; /* never ran */
    int skipped = 0;
    for (int s = 0; s < nskip && !skipped; s++) skipped = skip[s] == i;
    if (skipped) continue;
    int at = n;
    while (at > 0 && t->last_report > e->trials[out[at - 1]]->last_report) at--;
    if (at >= k) continue;
    int last = n < k ? n : k - 1;
    for (int j = last; j > at; j--) out[j] = out[j - 1];
    out[at] = i;
    if (n < k) n++;
  }
  return n;
}

static void table_row(tl_engine *e, tl_table *tb, const char *label, tl_trial *t) {
  int r = tl_table_row(tb);
  char cell[64];
  tl_table_set(tb, r, 0, label);
  tl_table_set(tb, r, 1, t->id);
  tl_table_set(tb, r, 2, tl_status_name(t->status));
  snprintf(cell, sizeof cell, "%ld", t->iterations);
  tl_table_set(tb, r, 3, cell);
  if (e->metric) {
    const cJSON *last = tl_trial_last(t);
    const cJSON *m = last ? cJSON_GetObjectItemCaseSensitive(last, e->metric) : NULL;
    tl_table_fmt(m, cell, sizeof cell);
    tl_table_set(tb, r, 4, cell);
  }
  tl_table_config(tb, r, tl_trial_config(t));
}

/* The live block, as plain lines in c->frame, sized to w x h: a status line, resources, the
 * best trial, then the best and the latest trials with their configs. Costs one pass over
 * the trials (the best, the top and the latest), nothing per result. */
static void build_frame(tl_engine *e, tl_console *c, int w, int h) {
  tl_buf *b = &c->frame;
  tl_buf_reset(b);
  int width = w - 1; /* never the last column: some terminals wrap there */
  int room = h - 1;  /* the cursor's line stays free */
  char el[32], size[32], size2[32];
  tl_fmt_duration(tl_engine_now(e) - e->started, el, sizeof el);
  size_t start = b->len;
  tl_buf_printf(b,
                "== %s | %s | %d trials: %d running, %d pending, %d paused, %d terminated, %d error"
                " | %ld results",
                e->name, el, e->ntrials, e->counts[TL_RUNNING], e->counts[TL_PENDING],
                e->counts[TL_PAUSED], e->counts[TL_TERMINATED], e->counts[TL_ERROR], e->results);
  cut_line(b, start, width);
  if (room < 2) return;
  start = b->len;
  double gu, mu, mt;
  tl_resources_usage(e, &gu, &mu, &mt);
  tl_buf_printf(b, "   CPUs %g/%g", e->cpus_used, e->cpus_total);
  if (e->gpus_total > 0) tl_buf_printf(b, " | GPUs %g/%g", gu, e->gpus_total);
  if (mt > 0) {
    tl_fmt_size(mu, size, sizeof size), tl_fmt_size(mt, size2, sizeof size2);
    tl_buf_printf(b, " | memory %s/%s", size, size2);
  }
  if (e->max_concurrent > 0) tl_buf_printf(b, " | max %d at once", e->max_concurrent);
  cut_line(b, start, width);
  if (room < 3) return;
  start = b->len;
  tl_buf_adds(b, "   ");
  add_best(e, b);
  cut_line(b, start, width);
  int rows = room - 4; /* the three lines above and the table's header */
  if (rows < 1 || e->ntrials == 0) return;
  int top[TOP_ROWS], recent[RECENT_ROWS];
  double val[TOP_ROWS];
  int ktop = e->metric ? (rows + 1) / 2 : 0;
  if (ktop > TOP_ROWS) ktop = TOP_ROWS;
  int ntop = pick_top(e, top, val, ktop);
  int krecent = rows - ntop < RECENT_ROWS ? rows - ntop : RECENT_ROWS;
  int nrecent = pick_recent(e, recent, krecent, top, ntop);
  if (ntop + nrecent == 0) return;
  tl_table tb;
  tl_table_init(&tb);
  tl_table_col(&tb, "", 0, 0);
  tl_table_col(&tb, "trial", 0, 0);
  tl_table_col(&tb, "status", 0, 0);
  tl_table_col(&tb, "iter", 1, 0);
  if (e->metric) tl_table_col(&tb, e->metric, 1, 14);
  for (int i = 0; i < ntop; i++) table_row(e, &tb, i == 0 ? "top" : "", e->trials[top[i]]);
  for (int i = 0; i < nrecent; i++) table_row(e, &tb, i == 0 ? "latest" : "", e->trials[recent[i]]);
  tl_table_render(&tb, b, width);
  tl_table_free(&tb);
}

/* Writes c->frame over the block drawn before, in one write: cursor up, each line followed
 * by erase-to-end-of-line, then erase below (the block may have shrunk). */
static void draw(tl_console *c) {
  tl_buf *o = &c->out;
  tl_buf_reset(o);
  if (c->drawn) tl_buf_printf(o, "\033[%dA\r", c->drawn);
  int lines = 0;
  for (size_t i = 0; i < c->frame.len; i++) {
    if (c->frame.data[i] == '\n') {
      tl_buf_adds(o, "\033[K\n");
      lines++;
    } else {
      tl_buf_addc(o, c->frame.data[i]);
    }
  }
  tl_buf_adds(o, "\033[J");
  fwrite(o->data, 1, o->len, stdout);
  c->drawn = lines;
}

static void clear_block(tl_console *c) {
  if (c->drawn) printf("\033[%dA\r\033[J", c->drawn);
  c->drawn = 0;
}

static void put_line(tl_buf *b) {
  fputs(b->data, stdout);
  fputc('\n', stdout);
}

/* One --json progress line (docs/usage.md, "What you see while it runs"). */
static void json_progress(tl_engine *e, tl_buf *b, double now) {
  double v, gu, mu, mt;
  int best = tl_trial_best(e, &v);
  tl_resources_usage(e, &gu, &mu, &mt);
  tl_buf_adds(b, "{\"ev\":\"progress\",\"elapsed_s\":");
  tl_buf_add_num(b, floor((now - e->started) * 1000) / 1000);
  for (int s = 0; s < 5; s++)
    tl_buf_printf(b, ",\"%s\":%d", tl_status_name((tl_status)s), e->counts[s]);
  tl_buf_printf(b, ",\"trials\":%d,\"results\":%ld,\"cpus_used\":", e->ntrials, e->results);
  tl_buf_add_num(b, e->cpus_used);
  tl_buf_adds(b, ",\"cpus\":");
  tl_buf_add_num(b, e->cpus_total);
  tl_buf_adds(b, ",\"gpus_used\":");
  tl_buf_add_num(b, gu);
  tl_buf_adds(b, ",\"gpus\":");
  tl_buf_add_num(b, e->gpus_total);
  tl_buf_adds(b, ",\"mem_used\":");
  tl_buf_add_num(b, mu);
  tl_buf_adds(b, ",\"mem\":");
  tl_buf_add_num(b, mt);
  tl_buf_adds(b, ",\"best_trial\":");
  if (best >= 0) {
    tl_buf_add_json_str(b, e->trials[best]->id);
    tl_buf_adds(b, ",\"best\":");
    tl_buf_add_num(b, v);
    tl_buf_printf(b, ",\"best_iteration\":%ld", e->trials[best]->iterations);
  } else {
    tl_buf_adds(b, "null");
  }
  tl_buf_adds(b, "}");
}

void tl_console_tick(tl_engine *e) {
  tl_console *c = e->console;
  if (!c || e->opt.quiet) return;
  double now = tl_engine_now(e);
  tl_buf b;
  tl_buf_init(&b);
  if (e->opt.json) {
    if (now - c->last_plain < 1) goto done;
    json_progress(e, &b, now);
    put_line(&b);
    c->last_plain = now;
  } else if (c->tty) {
    int w, h;
    term_size(&w, &h);
    build_frame(e, c, w, h);
    draw(c);
  } else if (now - c->last_plain >= c->interval) {
    add_counts(e, &b);
    tl_buf_adds(&b, " | ");
    add_best(e, &b);
    put_line(&b);
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
  if (c && c->tty && c->frame.len && !e->opt.quiet) { /* the block comes back below it */
    draw(c);
    fflush(stdout);
  }
}

static tl_engine *sort_engine;
static int by_metric(const void *a, const void *b) {
  const tl_trial *x = *(tl_trial *const *)a, *y = *(tl_trial *const *)b;
  double vx = 0, vy = 0;
  int hx = metric_value(sort_engine, x, &vx), hy = metric_value(sort_engine, y, &vy);
  if (hx != hy) return hy - hx;
  if (!hx || vx == vy) return x->index - y->index;
  int lt = vx < vy;
  return (sort_engine->mode < 0) == lt ? -1 : 1;
}

void tl_console_finish(tl_engine *e, const char *status) {
  tl_console *c = e->console;
  if (!c) return;
  if (c->tty) clear_block(c);
  double v;
  int best = tl_trial_best(e, &v);
  char *spent = tl_script_budget_spent(e->script); /* the run ended early */
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
    tl_table tb;
    tl_table_init(&tb);
    tl_table_col(&tb, "trial", 0, 0);
    tl_table_col(&tb, "status", 0, 0);
    tl_table_col(&tb, "iter", 1, 0);
    tl_table_col(&tb, e->metric ? e->metric : "-", 1, 14);
    for (int i = 0; i < show; i++) {
      tl_trial *t = order[i];
      int r = tl_table_row(&tb);
      char cell[64];
      const cJSON *last = e->metric ? tl_trial_last(t) : NULL;
      const cJSON *m = last ? cJSON_GetObjectItemCaseSensitive(last, e->metric) : NULL;
      tl_table_set(&tb, r, 0, t->id);
      tl_table_set(&tb, r, 1, tl_status_name(t->status));
      snprintf(cell, sizeof cell, "%ld", t->iterations);
      tl_table_set(&tb, r, 2, cell);
      tl_table_fmt(m, cell, sizeof cell);
      tl_table_set(&tb, r, 3, cell);
      tl_table_config(&tb, r, tl_trial_config(t));
    }
    int w = 0, h;
    if (c->tty) term_size(&w, &h), w--;
    tl_buf_addc(&b, '\n');
    tl_table_render(&tb, &b, w);
    tl_table_free(&tb);
    fputs(b.data, stdout);
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
    if (best >= 0)
      tl_buf_add_json_str(&b, e->trials[best]->id);
    else
      tl_buf_adds(&b, "null");
    tl_buf_adds(&b, ",\"budget_spent\":");
    if (spent) tl_buf_add_json_str(&b, spent);
    else tl_buf_adds(&b, "null");
    tl_buf_adds(&b, ",\"dir\":");
    tl_buf_add_json_str(&b, e->dir);
    tl_buf_adds(&b, "}");
    put_line(&b);
  } else if (best >= 0) {
    tl_trial *t = e->trials[best];
    char *cfg = tl_json_print(tl_trial_config(t));
    printf("Best trial %s: %s=%.6g after %ld iterations, config %s\n", t->id, e->metric, v,
           t->iterations, cfg);
    free(cfg);
  } else {
    printf("No trial reported %s.\n",
           e->metric ? e->metric : "a metric (set metric= in the experiment)");
  }
  if (!e->opt.json && spent) printf("Ended early: %s.\n", spent);
  if (!e->opt.json) printf("Results in %s\n", e->dir);
  free(spent);
  tl_buf_free(&b);
  fflush(stdout);
}

void tl_console_free(tl_engine *e) {
  tl_console *c = e->console;
  if (!c) return;
  tl_buf_free(&c->frame);
  tl_buf_free(&c->out);
  free(c);
  e->console = NULL;
}
