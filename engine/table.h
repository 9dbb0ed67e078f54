/* Text tables for the live console and `tunelua status` / `summary`: string cells, columns
 * as wide as their content (up to a cap), trial configs flattened into one column per key,
 * and a render that never makes a line wider than it is told. */
#ifndef TL_TABLE_H
#define TL_TABLE_H

#include <cjson/cJSON.h>

#include "util.h"

typedef struct tl_column {
  char *key;     /* header text, or the flattened config key ("optim/lr") (owned) */
  int is_config; /* header abbreviated to the key's last part when that is unambiguous */
  int right;     /* right-aligned (numbers) */
  int maxw;      /* widest the column may get, 0: no cap */
  char **cells;  /* per row, owned; NULL is empty */
  int ncells;
} tl_column;

typedef struct tl_table {
  tl_column *cols;
  int ncols, nrows;
  int first_config; /* index of the first config column: config keys are looked up from it */
} tl_table;

void tl_table_init(tl_table *t);
void tl_table_free(tl_table *t);
/* Adds a column; returns its index. */
int tl_table_col(tl_table *t, const char *head, int right, int maxw);
/* Adds a row; returns its index (0-based, the header is not a row). */
int tl_table_row(tl_table *t);
void tl_table_set(tl_table *t, int row, int col, const char *s);
/* One cell per flattened key of cfg, in config columns made as keys are first seen. */
void tl_table_config(tl_table *t, int row, const cJSON *cfg);
/* A JSON value as a short cell: numbers to 4 significant digits (whole numbers in full),
 * strings as they are, null as "-". Writes at most n - 1 bytes. */
void tl_table_fmt(const cJSON *v, char *out, size_t n);
/* Header and rows, each line ending in "\n" and at most width bytes (0: no limit); config
 * columns that do not fit are left out, from the right. Returns how many were left out. */
int tl_table_render(const tl_table *t, tl_buf *out, int width);

/* "12s", "4m05s", "2h03m" */
void tl_fmt_duration(double secs, char *out, size_t n);
/* bytes as "512M", "31.3G" (powers of 1024) */
void tl_fmt_size(double bytes, char *out, size_t n);

#endif
