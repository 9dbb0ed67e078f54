#include "util.h"

#include "numfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

void *tl_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "tunelua: out of memory\n");
    abort();
  }
  return p;
}

void *tl_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) {
    fprintf(stderr, "tunelua: out of memory\n");
    abort();
  }
  return p;
}

void *tl_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "tunelua: out of memory\n");
    abort();
  }
  return q;
}

void tl_buf_init(tl_buf *b) { b->data = NULL, b->len = 0, b->cap = 0; }
void tl_buf_free(tl_buf *b) {
  free(b->data);
  tl_buf_init(b);
}
void tl_buf_reset(tl_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = 0;
}

static void buf_reserve(tl_buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  b->data = tl_xrealloc(b->data, cap);
  b->cap = cap;
}

void tl_buf_add(tl_buf *b, const char *s, size_t n) {
  buf_reserve(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}
void tl_buf_adds(tl_buf *b, const char *s) { tl_buf_add(b, s, strlen(s)); }
void tl_buf_addc(tl_buf *b, char c) { tl_buf_add(b, &c, 1); }

void tl_buf_printf(tl_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void tl_buf_add_json_str(tl_buf *b, const char *s) {
  tl_buf_addc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': tl_buf_add(b, "\\\"", 2); break;
    case '\\': tl_buf_add(b, "\\\\", 2); break;
    case '\n': tl_buf_add(b, "\\n", 2); break;
    case '\r': tl_buf_add(b, "\\r", 2); break;
    case '\t': tl_buf_add(b, "\\t", 2); break;
    default:
      if (*p < 0x20)
        tl_buf_printf(b, "\\u%04x", *p);
      else
        tl_buf_addc(b, (char)*p);
    }
  }
  tl_buf_addc(b, '"');
}

void tl_buf_add_num(tl_buf *b, double v) {
  if (!isfinite(v)) {
    tl_buf_add(b, "null", 4);
    return;
  }
  buf_reserve(b, TL_NUM_MAX);
  b->len += tl_fmt_num(b->data + b->len, v);
}

double tl_wallclock(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

char *tl_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = tl_xmalloc(n);
  memcpy(d, s, n);
  return d;
}

char *tl_strfmt(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = tl_xmalloc((size_t)(n < 0 ? 0 : n) + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

int tl_mkdirs(const char *path) {
  /* the usual case, a new trial's directory under one that exists: one mkdir, not one per
   * component */
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return -errno;
  char *p = tl_strdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      free(p);
      return -e;
    }
    *s = '/';
  }
  int rc = (mkdir(p, 0755) != 0 && errno != EEXIST) ? -errno : 0;
  free(p);
  return rc;
}

int tl_write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

int tl_write_file_atomic(const char *path, const char *data, size_t len) {
  char *tmp = tl_strfmt("%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int rc = 0;
  if (fd < 0) {
    rc = -errno;
  } else {
    rc = tl_write_all(fd, data, len);
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc != 0) unlink(tmp);
  }
  free(tmp);
  return rc;
}

char *tl_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  tl_buf b;
  tl_buf_init(&b);
  char tmp[8192];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) tl_buf_add(&b, tmp, n);
  fclose(f);
  if (!b.data) tl_buf_add(&b, "", 0);
  if (len) *len = b.len;
  return b.data;
}

int tl_copy_file(const char *from, const char *to) {
  size_t n;
  char *data = tl_read_file(from, &n);
  if (!data) return -errno;
  int rc = tl_write_file_atomic(to, data, n);
  free(data);
  return rc;
}

char *tl_last_line(const char *path, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size == 0) {
    close(fd);
    return NULL;
  }
  off_t start = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
  size_t want = (size_t)(st.st_size - start);
  char *buf = tl_xmalloc(want + 1);
  ssize_t got = pread(fd, buf, want, start);
  close(fd);
  if (got <= 0) {
    free(buf);
    return NULL;
  }
  buf[got] = 0;
  char *end = buf + got;
  while (end > buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) *--end = 0;
  if (end == buf) {
    free(buf);
    return NULL;
  }
  char *line = end;
  while (line > buf && line[-1] != '\n') line--;
  char *out = tl_strdup(line);
  free(buf);
  return out;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -errno;
}

int tl_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -errno;
  return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int copy_one_file(const char *from, const char *to, mode_t mode) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -errno;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    int e = errno;
    close(in);
    return -e;
  }
  char buf[65536];
  ssize_t n;
  int rc = 0;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if ((rc = tl_write_all(out, buf, (size_t)n)) != 0) break;
  if (n < 0) rc = -errno;
  if (fchmod(out, mode) != 0 && rc == 0) rc = -errno;
  if (close(out) != 0 && rc == 0) rc = -errno;
  close(in);
  return rc;
}

int tl_copy_tree(const char *from, const char *to, int readonly) {
  struct stat st;
  if (stat(from, &st) != 0) return -errno;
  mode_t mode = st.st_mode & 07777;
  if (readonly) mode &= (mode_t)~0222;
  if (!S_ISDIR(st.st_mode)) return copy_one_file(from, to, mode);
  if (mkdir(to, 0700) != 0 && errno != EEXIST) return -errno;
  DIR *d = opendir(from);
  if (!d) return -errno;
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    char *a = tl_strfmt("%s/%s", from, de->d_name), *b = tl_strfmt("%s/%s", to, de->d_name);
    rc = tl_copy_tree(a, b, readonly);
    free(a), free(b);
  }
  closedir(d);
  if (rc == 0 && chmod(to, mode | (readonly ? 0 : 0700)) != 0) rc = -errno;
  return rc;
}

void tl_json_write(tl_buf *b, const cJSON *v) {
  if (!v || cJSON_IsNull(v) || cJSON_IsInvalid(v)) {
    tl_buf_adds(b, "null");
  } else if (cJSON_IsBool(v)) {
    tl_buf_adds(b, cJSON_IsTrue(v) ? "true" : "false");
  } else if (cJSON_IsNumber(v)) {
    tl_buf_add_num(b, v->valuedouble);
  } else if (cJSON_IsString(v)) {
    tl_buf_add_json_str(b, v->valuestring);
  } else if (cJSON_IsRaw(v)) {
    tl_buf_adds(b, v->valuestring ? v->valuestring : "null");
  } else {
    int obj = cJSON_IsObject(v);
    tl_buf_addc(b, obj ? '{' : '[');
    for (const cJSON *c = v->child; c; c = c->next) {
      if (c != v->child) tl_buf_addc(b, ',');
      if (obj) {
        tl_buf_add_json_str(b, c->string ? c->string : "");
        tl_buf_addc(b, ':');
      }
      tl_json_write(b, c);
    }
    tl_buf_addc(b, obj ? '}' : ']');
  }
}

char *tl_json_print(const cJSON *v) {
  tl_buf b;
  tl_buf_init(&b);
  tl_json_write(&b, v);
  return b.data;
}

void tl_strv_push(tl_strv *s, char *x) {
  if (s->n + 2 > s->cap) {
    s->cap = s->cap ? s->cap * 2 : 32;
    s->v = tl_xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
  }
  s->v[s->n++] = x;
  s->v[s->n] = NULL;
}

void tl_strv_free(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}
