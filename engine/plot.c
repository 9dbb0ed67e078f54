/* `tunelua plot`: the data of the HTML report, gathered from an experiment directory, and
 * the page itself (engine/plot.html, embedded in the binary by engine/embed.sh).
 *
 * The data comes from summary.json (trial states, configs, last and best results, metric and
 * mode) and journal.jsonl (every result with the instant the engine took it, the scheduler's
 * decisions, exploits). The journal, not trials/<id>/result.jsonl, gives the curves: it
 * holds the same results with a sub-second clock (results carry whole-second timestamps)
 * and the virtual clock of simulated runs, in one file read in order. It is read
 * incrementally, so the live dashboard's refreshes cost what was appended since the last. */
#include "plot.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "util.h"

extern const unsigned char tl_asset_plot_html[]; /* build/embedded.c */
extern const unsigned long tl_asset_plot_html_len;

#define MAX_POINTS 400000 /* points of all curves in one page, after thinning */

typedef struct {
  char kind[8]; /* stop, pause, exploit, error */
  double iter, t;
  char *note; /* who decided, or the trial an exploit copied (owned) */
} mark;

typedef struct {
  char *id;
  double *pts; /* iteration, value, time: 3 per result with a numeric metric */
  long npts, cap;
  mark *marks;
  int nmarks, capmarks;
  long results; /* results of any kind */
  cJSON *config; /* from the journal (trial_added, exploit), for a trial the summary lacks yet */
  const cJSON *sum; /* its entry in the current summary (borrowed from p->summary) */
} rec;

struct tl_plot {
  char *dir;
  long off; /* journal bytes consumed (whole lines) */
  rec *recs;
  int nrecs, caprecs;
  int *slots; /* open addressing: rec index + 1, 0 empty */
  int nslots;
  cJSON *summary;
  char *metric; /* the summary's metric, or the first numeric field of the first result */
  int mode;     /* 1 max, -1 min, 0 none */
  int have_t0, virtual_clock;
  double t0;
  double *best; /* best-so-far: time, value, rec index; 3 per improvement */
  long nbest, capbest;
};

static uint32_t hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static int find(tl_plot *p, const char *id) {
  if (!p->nslots) return -1;
  for (uint32_t i = hash(id) & (uint32_t)(p->nslots - 1);; i = (i + 1) & (uint32_t)(p->nslots - 1)) {
    if (!p->slots[i]) return -1;
    if (strcmp(p->recs[p->slots[i] - 1].id, id) == 0) return p->slots[i] - 1;
  }
}

static void place(tl_plot *p, int idx) {
  uint32_t i = hash(p->recs[idx].id) & (uint32_t)(p->nslots - 1);
  while (p->slots[i]) i = (i + 1) & (uint32_t)(p->nslots - 1);
  p->slots[i] = idx + 1;
}

/* The record of a trial id, created on first sight (the order of first sight is the order of
 * the page's table and curves). */
static rec *get(tl_plot *p, const char *id) {
  int k = find(p, id);
  if (k >= 0) return &p->recs[k];
  if (p->nrecs == p->caprecs) {
    p->caprecs = p->caprecs ? 2 * p->caprecs : 16;
    p->recs = tl_xrealloc(p->recs, (size_t)p->caprecs * sizeof *p->recs);
  }
  if (2 * (p->nrecs + 1) > p->nslots) {
    free(p->slots);
    p->nslots = p->nslots ? 2 * p->nslots : 64;
    p->slots = tl_xcalloc((size_t)p->nslots, sizeof *p->slots);
    for (int i = 0; i < p->nrecs; i++) place(p, i);
  }
  rec *r = &p->recs[p->nrecs];
  memset(r, 0, sizeof *r);
  r->id = tl_strdup(id);
  place(p, p->nrecs++);
  return r;
}

static void add_mark(rec *r, const char *kind, double iter, double t, const char *note) {
  if (r->nmarks == r->capmarks) {
    r->capmarks = r->capmarks ? 2 * r->capmarks : 4;
    r->marks = tl_xrealloc(r->marks, (size_t)r->capmarks * sizeof *r->marks);
  }
  mark *m = &r->marks[r->nmarks++];
  snprintf(m->kind, sizeof m->kind, "%s", kind);
  m->iter = iter;
  m->t = t;
  m->note = note ? tl_strdup(note) : NULL;
}

tl_plot *tl_plot_new(const char *dir) {
  tl_plot *p = tl_xcalloc(1, sizeof *p);
  p->dir = tl_strdup(dir);
  return p;
}

void tl_plot_free(tl_plot *p) {
  if (!p) return;
  for (int i = 0; i < p->nrecs; i++) {
    rec *r = &p->recs[i];
    for (int k = 0; k < r->nmarks; k++) free(r->marks[k].note);
    free(r->id), free(r->pts), free(r->marks);
    cJSON_Delete(r->config);
  }
  free(p->recs), free(p->slots), free(p->best), free(p->metric), free(p->dir);
  cJSON_Delete(p->summary);
  free(p);
}

static int is_engine_field(const char *k) {
  static const char *f[] = {"trial_id", "training_iteration", "time_this_iter_s", "time_total_s",
                            "timestamp", NULL};
  for (int i = 0; f[i]; i++)
    if (strcmp(k, f[i]) == 0) return 1;
  return 0;
}

static double num(const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void on_result(tl_plot *p, rec *r, const cJSON *res, double t) {
  r->results++;
  if (!cJSON_IsObject(res)) return;
  if (!p->metric) /* no metric in the experiment: the first numeric field it reports */
    for (const cJSON *c = res->child; c && !p->metric; c = c->next)
      if (cJSON_IsNumber(c) && c->string && !is_engine_field(c->string)) p->metric = tl_strdup(c->string);
  const cJSON *v = p->metric ? cJSON_GetObjectItemCaseSensitive(res, p->metric) : NULL;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return; /* no curve point */
  double val = v->valuedouble;
  if (r->npts == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 16;
    r->pts = tl_xrealloc(r->pts, (size_t)r->cap * 3 * sizeof *r->pts);
  }
  double *pt = r->pts + 3 * r->npts++;
  pt[0] = num(res, "training_iteration", (double)r->results);
  pt[1] = val;
  pt[2] = t;
  double cur = p->nbest ? p->best[3 * (p->nbest - 1) + 1] : 0;
  if (p->nbest == 0 || (p->mode < 0 ? val < cur : val > cur)) {
    if (p->nbest == p->capbest) {
      p->capbest = p->capbest ? 2 * p->capbest : 16;
      p->best = tl_xrealloc(p->best, (size_t)p->capbest * 3 * sizeof *p->best);
    }
    double *b = p->best + 3 * p->nbest++;
    b[0] = t, b[1] = val, b[2] = (double)(r - p->recs);
  }
}

/* One journal line. Unknown events are skipped: the page shows what it knows. */
static void on_line(tl_plot *p, const char *line, size_t len) {
  cJSON *j = cJSON_ParseWithLength(line, len);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return;
  }
  const char *ev = str(j, "ev"), *id = str(j, "trial");
  double t = num(j, "t", 0);
  if (!p->have_t0 && t > 0) p->t0 = t, p->have_t0 = 1;
  if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "vt"))) p->virtual_clock = 1;
  t = p->virtual_clock ? num(j, "vt", 0) : t - p->t0;
  if (ev && id) {
    rec *r = get(p, id);
    if (strcmp(ev, "result") == 0) {
      on_result(p, r, cJSON_GetObjectItemCaseSensitive(j, "result"), t);
    } else if (strcmp(ev, "decision") == 0) {
      const char *action = str(j, "action"), *by = str(j, "by");
      /* a stop by the experiment's stop rule is the normal end, not a scheduler decision */
      if (action && !(by && strcmp(by, "stop") == 0) &&
          (strcmp(action, "stop") == 0 || strcmp(action, "pause") == 0))
        add_mark(r, action, num(j, "iteration", (double)r->results), t, by);
    } else if (strcmp(ev, "trial_added") == 0 || strcmp(ev, "exploit") == 0) {
      cJSON *cfg = cJSON_DetachItemFromObjectCaseSensitive(j, "config");
      if (cfg) cJSON_Delete(r->config), r->config = cfg;
      if (ev[0] == 'e') add_mark(r, "exploit", (double)r->results, t, str(j, "from"));
    } else if (strcmp(ev, "status") == 0 && str(j, "status") && strcmp(str(j, "status"), "ERROR") == 0) {
      add_mark(r, "error", num(j, "iteration", (double)r->results), t, str(j, "reason"));
    }
  }
  cJSON_Delete(j);
}

int tl_plot_update(tl_plot *p, const char **err) {
  char *path = tl_strfmt("%s/summary.json", p->dir);
  size_t len;
  char *text = tl_read_file(path, &len);
  free(path);
  cJSON *sum = text ? cJSON_ParseWithLength(text, len) : NULL;
  free(text);
  if (!cJSON_IsObject(sum) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(sum, "trials"))) {
    cJSON_Delete(sum);
    if (p->summary) return 0; /* keep the last good one (a reader never sees half a file) */
    *err = "no readable summary.json: not a tunelua experiment directory (or it has just started)";
    return -1;
  }
  cJSON_Delete(p->summary);
  p->summary = sum;
  if (!p->metric && str(sum, "metric")) p->metric = tl_strdup(str(sum, "metric"));
  const char *mode = str(sum, "mode");
  p->mode = mode && strcmp(mode, "min") == 0 ? -1 : mode && strcmp(mode, "max") == 0 ? 1 : 0;

  path = tl_strfmt("%s/journal.jsonl", p->dir);
  FILE *f = fopen(path, "r");
  free(path);
  if (f && fseek(f, p->off, SEEK_SET) == 0) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
      if (line[n - 1] != '\n') break; /* being written: read it next time */
      p->off += n;
      on_line(p, line, (size_t)n);
    }
    free(line);
  }
  if (f) fclose(f);
  for (int i = 0; i < p->nrecs; i++) p->recs[i].sum = NULL;
  const cJSON *t;
  cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(sum, "trials")) {
    const char *id = str(t, "id");
    if (id) get(p, id)->sum = t;
  }
  return 0;
}

static void add_fixed(tl_buf *b, double v, const char *fmt) {
  if (isfinite(v)) tl_buf_printf(b, fmt, v);
  else tl_buf_adds(b, "null");
}

/* The metric's value in a result object: a number, or any other JSON value as it is. */
static void add_metric(tl_buf *b, tl_plot *p, const cJSON *res) {
  const cJSON *v = p->metric && cJSON_IsObject(res) ? cJSON_GetObjectItemCaseSensitive(res, p->metric) : NULL;
  tl_json_write(b, v);
}

char *tl_plot_json(tl_plot *p, int live) {
  tl_buf b;
  tl_buf_init(&b);
  const cJSON *s = p->summary;
  tl_buf_adds(&b, "{\"name\":");
  tl_json_write(&b, cJSON_GetObjectItemCaseSensitive(s, "name"));
  tl_buf_adds(&b, ",\"metric\":");
  if (p->metric) tl_buf_add_json_str(&b, p->metric);
  else tl_buf_adds(&b, "null");
  tl_buf_adds(&b, ",\"metric_given\":");
  tl_buf_adds(&b, str(s, "metric") ? "true" : "false");
  tl_buf_adds(&b, ",\"mode\":");
  tl_buf_adds(&b, p->mode > 0 ? "\"max\"" : p->mode < 0 ? "\"min\"" : "null");
  tl_buf_adds(&b, ",\"status\":");
  tl_json_write(&b, cJSON_GetObjectItemCaseSensitive(s, "status"));
  tl_buf_adds(&b, ",\"best_trial\":");
  tl_json_write(&b, cJSON_GetObjectItemCaseSensitive(s, "best_trial"));
  tl_buf_adds(&b, ",\"elapsed_s\":");
  tl_json_write(&b, cJSON_GetObjectItemCaseSensitive(s, "elapsed_s"));
  tl_buf_adds(&b, ",\"seed\":");
  tl_json_write(&b, cJSON_GetObjectItemCaseSensitive(s, "seed"));
  tl_buf_printf(&b, ",\"live\":%s,\"clock\":\"%s\",\"started\":", live ? "true" : "false",
                p->virtual_clock ? "virtual" : "wall");
  add_fixed(&b, p->have_t0 ? p->t0 : NAN, "%.3f");
  tl_buf_adds(&b, ",\"generated\":");
  add_fixed(&b, tl_wallclock(), "%.3f");
  long total = 0;
  for (int i = 0; i < p->nrecs; i++) total += p->recs[i].npts;
  long budget = p->nrecs ? MAX_POINTS / p->nrecs : MAX_POINTS;
  if (budget < 50) budget = 50;
  tl_buf_printf(&b, ",\"points\":%ld,\"trials\":[", total);
  for (int i = 0; i < p->nrecs; i++) {
    rec *r = &p->recs[i];
    const cJSON *t = r->sum;
    tl_buf_adds(&b, i ? ",\n{\"id\":" : "\n{\"id\":");
    tl_buf_add_json_str(&b, r->id);
    tl_buf_adds(&b, ",\"status\":");
    if (str(t, "status")) tl_buf_add_json_str(&b, str(t, "status"));
    else tl_buf_adds(&b, "\"PENDING\"");
    tl_buf_adds(&b, ",\"iterations\":");
    add_fixed(&b, num(t, "iterations", (double)r->results), "%.0f");
    tl_buf_adds(&b, ",\"failures\":");
    add_fixed(&b, num(t, "failures", 0), "%.0f");
    tl_buf_adds(&b, ",\"config\":");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(t, "config");
    tl_json_write(&b, cfg ? cfg : r->config);
    tl_buf_adds(&b, ",\"last\":");
    add_metric(&b, p, cJSON_GetObjectItemCaseSensitive(t, "last_result"));
    tl_buf_adds(&b, ",\"best\":");
    add_metric(&b, p, cJSON_GetObjectItemCaseSensitive(t, "best_result"));
    tl_buf_adds(&b, ",\"error\":");
    tl_json_write(&b, cJSON_GetObjectItemCaseSensitive(t, "error"));
    /* a long curve is thinned to every k-th point, keeping the last */
    long step = r->npts > budget ? (r->npts + budget - 1) / budget : 1;
    tl_buf_adds(&b, ",\"pts\":[");
    int first = 1;
    for (long k = 0; k < r->npts; k++) {
      if (k % step && k != r->npts - 1) continue;
      const double *pt = r->pts + 3 * k;
      tl_buf_adds(&b, first ? "[" : ",[");
      first = 0;
      add_fixed(&b, pt[0], "%.15g");
      tl_buf_addc(&b, ',');
      add_fixed(&b, pt[1], "%.8g");
      tl_buf_addc(&b, ',');
      add_fixed(&b, pt[2], "%.3f");
      tl_buf_addc(&b, ']');
    }
    tl_buf_adds(&b, "],\"marks\":[");
    for (int k = 0; k < r->nmarks; k++) {
      mark *m = &r->marks[k];
      tl_buf_printf(&b, "%s[\"%s\",", k ? "," : "", m->kind);
      add_fixed(&b, m->iter, "%.15g");
      tl_buf_addc(&b, ',');
      add_fixed(&b, m->t, "%.3f");
      tl_buf_addc(&b, ',');
      if (m->note) tl_buf_add_json_str(&b, m->note);
      else tl_buf_adds(&b, "null");
      tl_buf_addc(&b, ']');
    }
    tl_buf_adds(&b, "]}");
  }
  tl_buf_adds(&b, "],\"best\":[");
  for (long k = 0; k < p->nbest; k++) {
    const double *x = p->best + 3 * k;
    tl_buf_adds(&b, k ? ",[" : "[");
    add_fixed(&b, x[0], "%.3f");
    tl_buf_addc(&b, ',');
    add_fixed(&b, x[1], "%.8g");
    tl_buf_addc(&b, ',');
    tl_buf_add_json_str(&b, p->recs[(int)x[2]].id);
    tl_buf_addc(&b, ']');
  }
  tl_buf_adds(&b, "]}");
  return b.data;
}

char *tl_plot_page(const char *data, size_t *len) {
  static const char marker[] = "@@TUNELUA_DATA@@";
  const char *tpl = (const char *)tl_asset_plot_html;
  size_t tlen = (size_t)tl_asset_plot_html_len;
  const char *at = strstr(tpl, marker);
  tl_buf b;
  tl_buf_init(&b);
  if (!at) at = tpl + tlen;
  tl_buf_add(&b, tpl, (size_t)(at - tpl));
  /* '<' only occurs inside JSON strings; as \u003c it cannot end the script element */
  for (const char *c = data; *c; c++) {
    if (*c == '<') tl_buf_adds(&b, "\\u003c");
    else tl_buf_addc(&b, *c);
  }
  if (at < tpl + tlen) {
    at += sizeof marker - 1;
    tl_buf_add(&b, at, (size_t)(tpl + tlen - at));
  }
  *len = b.len;
  return b.data;
}

static int usage_error(const char *msg, const char *arg) {
  fprintf(stderr, "tunelua plot: ");
  fprintf(stderr, msg, arg);
  fprintf(stderr, "\nusage: tunelua plot DIR [-o FILE.html]\n");
  return TL_EXIT_USAGE;
}

int tl_plot_main(int argc, char **argv) {
  const char *dir = NULL, *out = NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      if (i + 1 >= argc) return usage_error("%s needs a file name", a);
      out = argv[++i];
    } else if (strncmp(a, "--output=", 9) == 0) {
      out = a + 9;
    } else if (a[0] == '-' && a[1]) {
      return usage_error("unknown option %s", a);
    } else if (dir) {
      return usage_error("unexpected argument %s", a);
    } else {
      dir = a;
    }
  }
  if (!dir) return usage_error("%s", "no experiment directory given");
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return usage_error("%s is not a directory", dir);
  tl_plot *p = tl_plot_new(dir);
  const char *err = NULL;
  if (tl_plot_update(p, &err) != 0) {
    fprintf(stderr, "tunelua plot: %s: %s\n", dir, err);
    tl_plot_free(p);
    return TL_EXIT_USAGE;
  }
  char *data = tl_plot_json(p, 0);
  size_t len;
  char *page = tl_plot_page(data, &len);
  char *def = out ? NULL : tl_strfmt("%s/report.html", dir);
  const char *path = out ? out : def;
  int rc = tl_write_file_atomic(path, page, len);
  if (rc != 0) fprintf(stderr, "tunelua plot: cannot write %s: %s\n", path, strerror(-rc));
  else printf("tunelua plot: wrote %s (%d trials)\n", path, p->nrecs);
  free(def), free(page), free(data);
  tl_plot_free(p);
  return rc == 0 ? 0 : 1;
}
