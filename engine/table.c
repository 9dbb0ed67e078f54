#include "table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trial.h"

void tl_table_init(tl_table *t) {
  memset(t, 0, sizeof *t);
  t->first_config = -1;
}

void tl_table_free(tl_table *t) {
  for (int c = 0; c < t->ncols; c++) {
    for (int r = 0; r < t->cols[c].ncells; r++) free(t->cols[c].cells[r]);
    free(t->cols[c].cells);
    free(t->cols[c].key);
  }
  free(t->cols);
  tl_table_init(t);
}

int tl_table_col(tl_table *t, const char *head, int right, int maxw) {
  t->cols = tl_xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
  tl_column *c = &t->cols[t->ncols];
  memset(c, 0, sizeof *c);
  c->key = tl_strdup(head);
  c->right = right;
  c->maxw = maxw;
  return t->ncols++;
}

int tl_table_row(tl_table *t) { return t->nrows++; }

void tl_table_set(tl_table *t, int row, int col, const char *s) {
  tl_column *c = &t->cols[col];
  if (row >= c->ncells) {
    c->cells = tl_xrealloc(c->cells, (size_t)(row + 1) * sizeof *c->cells);
    memset(c->cells + c->ncells, 0, (size_t)(row + 1 - c->ncells) * sizeof *c->cells);
    c->ncells = row + 1;
  }
  free(c->cells[row]);
  c->cells[row] = tl_strdup(s);
}

void tl_table_fmt(const cJSON *v, char *out, size_t n) {
  if (!v || cJSON_IsNull(v)) {
    snprintf(out, n, "-");
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == floor(d) && fabs(d) < 1e9)
      snprintf(out, n, "%.0f", d);
    else
      snprintf(out, n, "%.4g", d);
  } else if (cJSON_IsString(v)) {
    snprintf(out, n, "%s", v->valuestring);
  } else if (cJSON_IsBool(v)) {
    snprintf(out, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
  } else {
    char *s = tl_json_print(v);
    snprintf(out, n, "%s", s);
    free(s);
  }
}

typedef struct {
  tl_table *t;
  int row;
} config_row;

static void config_cell(void *ud, const char *key, const cJSON *v) {
  config_row *cr = ud;
  tl_table *t = cr->t;
  int col = -1;
  for (int c = t->first_config; c >= 0 && c < t->ncols && col < 0; c++)
    if (t->cols[c].is_config && strcmp(t->cols[c].key, key) == 0) col = c;
  if (col < 0) {
    col = tl_table_col(t, key, cJSON_IsNumber(v), 12);
    t->cols[col].is_config = 1;
    if (t->first_config < 0) t->first_config = col;
  }
  char cell[64];
  tl_table_fmt(v, cell, sizeof cell);
  tl_table_set(t, cr->row, col, cell);
}

void tl_table_config(tl_table *t, int row, const cJSON *cfg) {
  if (!cJSON_IsObject(cfg)) return;
  config_row cr = {t, row};
  tl_buf prefix;
  tl_buf_init(&prefix);
  tl_json_flatten(cfg, &prefix, config_cell, &cr);
  tl_buf_free(&prefix);
}

/* A config column's header: the key's last part ("lr" for "optim/lr") unless another config
 * column ends the same way, then the whole key. */
static const char *header(const tl_table *t, const tl_column *c) {
  if (!c->is_config) return c->key;
  const char *last = strrchr(c->key, '/');
  if (!last) return c->key;
  last++;
  for (int i = 0; i < t->ncols; i++) {
    const tl_column *o = &t->cols[i];
    if (o == c) continue;
    const char *ol = strrchr(o->key, '/');
    if (strcmp(ol ? ol + 1 : o->key, last) == 0) return c->key;
  }
  return last;
}

/* Appends s in a field of w bytes; a longer s is cut and ends in '~'. */
static void add_field(tl_buf *b, const char *s, int w, int right) {
  int len = s ? (int)strlen(s) : 0;
  if (len > w) {
    tl_buf_add(b, s, (size_t)(w - 1));
    tl_buf_addc(b, '~');
    return;
  }
  if (right)
    for (int i = len; i < w; i++) tl_buf_addc(b, ' ');
  if (len) tl_buf_add(b, s, (size_t)len);
  if (!right)
    for (int i = len; i < w; i++) tl_buf_addc(b, ' ');
}

/* Ends the current line: trailing blanks dropped, cut to width, newline. */
static void end_line(tl_buf *b, size_t start, int width) {
  while (b->len > start && b->data[b->len - 1] == ' ') b->len--;
  if (width > 0 && b->len - start > (size_t)width) b->len = start + (size_t)width;
  tl_buf_addc(b, '\n');
}

int tl_table_render(const tl_table *t, tl_buf *out, int width) {
  int *w = tl_xcalloc((size_t)(t->ncols ? t->ncols : 1), sizeof *w);
  int shown = 0, used = 0;
  for (int c = 0; c < t->ncols; c++) {
    const tl_column *col = &t->cols[c];
    /* cells are cut at maxw, headers only beyond 16 (learning_rate stays whole) */
    int hw = (int)strlen(header(t, col)), cw = 0;
    for (int r = 0; r < col->ncells; r++)
      if (col->cells[r] && (int)strlen(col->cells[r]) > cw) cw = (int)strlen(col->cells[r]);
    if (col->maxw > 0 && cw > col->maxw) cw = col->maxw;
    if (hw > cw) cw = col->maxw > 0 && hw > 16 ? (cw > 16 ? cw : 16) : hw;
    if (cw < 1) cw = 1;
    int need = used + (c ? 2 : 0) + cw;
    /* the fixed columns are always shown (the line is cut); config ones only when they fit */
    if (width > 0 && col->is_config && need > width) break;
    w[c] = cw;
    used = need;
    shown = c + 1;
  }
  int left_out = 0;
  for (int c = shown; c < t->ncols; c++) left_out += t->cols[c].is_config;
  for (int r = -1; r < t->nrows; r++) {
    size_t start = out->len;
    for (int c = 0; c < shown; c++) {
      const tl_column *col = &t->cols[c];
      const char *s = r < 0 ? header(t, col) : r < col->ncells ? col->cells[r] : NULL;
      if (c) tl_buf_adds(out, "  ");
      add_field(out, s, w[c], col->right);
    }
    end_line(out, start, width);
  }
  free(w);
  return left_out;
}

void tl_fmt_duration(double secs, char *out, size_t n) {
  if (!(secs >= 0)) secs = 0;
  long s = (long)secs;
  if (s < 60)
    snprintf(out, n, "%lds", s);
  else if (s < 3600)
    snprintf(out, n, "%ldm%02lds", s / 60, s % 60);
  else
    snprintf(out, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

void tl_fmt_size(double bytes, char *out, size_t n) {
  static const char units[] = "KMGTPE";
  if (bytes < 1024) {
    snprintf(out, n, "%.0f", bytes);
    return;
  }
  int u = -1;
  while (bytes >= 1024 && u < 5) bytes /= 1024, u++;
  snprintf(out, n, bytes < 10 ? "%.1f%c" : "%.0f%c", bytes, units[u]);
}
