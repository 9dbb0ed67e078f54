/* Small helpers shared by every engine module: growable buffers, clocks, files. */
#ifndef TL_UTIL_H
#define TL_UTIL_H

#include <stddef.h>

typedef struct {
  char *data;
  size_t len, cap;
} tl_buf;

void tl_buf_init(tl_buf *b);
void tl_buf_free(tl_buf *b);
void tl_buf_reset(tl_buf *b);
void tl_buf_add(tl_buf *b, const char *s, size_t n);
void tl_buf_adds(tl_buf *b, const char *s);
void tl_buf_addc(tl_buf *b, char c);
void tl_buf_printf(tl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void tl_buf_add_json_str(tl_buf *b, const char *s);
/* Appends a number the shortest way that reads back exactly. */
void tl_buf_add_num(tl_buf *b, double v);

double tl_wallclock(void); /* Unix time in seconds */
char *tl_strdup(const char *s);
char *tl_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tl_mkdirs(const char *path); /* mkdir -p; 0 or -errno */
int tl_write_all(int fd, const char *data, size_t len);
/* Writes a whole file through a temporary name and rename(2), so readers never see half. */
int tl_write_file_atomic(const char *path, const char *data, size_t len);
char *tl_read_file(const char *path, size_t *len); /* NUL-terminated, NULL on error */
int tl_copy_file(const char *from, const char *to);
/* Last non-empty line of a text file (at most max bytes), or NULL. */
char *tl_last_line(const char *path, size_t max);
/* rm -rf; 0 or -errno of the first failure. */
int tl_remove_tree(const char *path);
/* cp -r of a file or directory; with readonly, the copy loses every write bit. */
int tl_copy_tree(const char *from, const char *to, int readonly);
/* JSON text of a cJSON value with numbers written exactly (cJSON's own printer may drop the
 * last digit of a double); tl_json_print returns an owned string. */
struct cJSON;
void tl_json_write(tl_buf *b, const struct cJSON *v);
char *tl_json_print(const struct cJSON *v);
/* A growable NULL-terminated vector of owned strings (argv, environments). */
typedef struct {
  char **v;
  int n, cap;
} tl_strv;
void tl_strv_push(tl_strv *s, char *x); /* takes x */
/* Frees every string and the vector; works on any NULL-terminated array of owned strings. */
void tl_strv_free(char **v);
void *tl_xmalloc(size_t n);
void *tl_xcalloc(size_t n, size_t size);
void *tl_xrealloc(void *p, size_t n);

#endif
