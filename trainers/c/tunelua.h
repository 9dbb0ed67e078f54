/* tunelua.h - the C client of the tunelua trainer protocol (version 1, docs/protocol.md).
 *
 * One header, libc and POSIX only, C99/C11 clean. stb style: in exactly ONE .c file of
 * the trainer write
 *
 *     #define TUNELUA_IMPLEMENTATION
 *     #include "tunelua.h"            (before any system header: see "Building")
 *
 * and include it plainly wherever else the declarations are needed.
 *
 *     double lr = tunelua_param_double("lr", 0.01);          connects on first use
 *     for (int step = 1; step <= 100; step++) {
 *       ... train ...
 *       if (tunelua_reportf("{\"loss\":%g,\"step\":%d}", loss, step) != TUNELUA_CONTINUE) break;
 *     }
 *     tunelua_done();
 *
 * The engine starts the trainer with TUNELUA_CONNECT (unix:/path or tcp:HOST:PORT),
 * TUNELUA_TOKEN, TUNELUA_TRIAL_ID and TUNELUA_TRIAL_DIR. The client connects lazily, on
 * the first call that needs the engine, says hello (api "function") and keeps the welcome:
 * config, restore, iteration, trial_dir, shared. The process the engine started takes the
 * copy of the welcome in TUNELUA_WELCOME without waiting for the socket's, which it reads
 * and checks before its first decision (docs/protocol.md, "The early welcome"). One blocking
 * socket, one report outstanding at a time; not thread-safe (call it from one thread).
 *
 * Reports: tunelua_report() takes a JSON object as text, tunelua_reportf() a printf
 * format producing one, tunelua_metric_*() + tunelua_report_metrics() build one key by
 * key. Bare nan/inf/-inf tokens (what printf writes for non-finite doubles) are sent as
 * null, since JSON has no NaN. Each returns the engine's decision: TUNELUA_CONTINUE,
 * TUNELUA_STOP or TUNELUA_PAUSE, or TUNELUA_ERROR (< 0) with tunelua_error() saying why.
 * On STOP or PAUSE the trainer exits 0 soon; when tunelua_should_checkpoint() is true it
 * first saves and records a checkpoint:
 *
 *     if (tunelua_should_checkpoint()) {
 *       const char *d = tunelua_checkpoint_dir();               a fresh tmp- directory
 *       save_state(d);
 *       tunelua_record_checkpoint(d);                           the engine renames it
 *     }
 *
 * Later reports after STOP/PAUSE send nothing and return the same action again.
 *
 * Errors: calls that return a pointer return NULL, calls that return int return < 0, and
 * tunelua_error() holds the reason. The typed getters tunelua_param_double/int/bool have
 * no way to return an error: when the engine cannot be reached (or refuses) they print
 * the reason on stderr and exit(1), as the protocol wants of a refused trainer. Call
 * tunelua_params_json() first to handle that yourself.
 *
 * Strings returned by the library belong to it and stay valid until the process exits
 * (getters cache one copy per path/name), except tunelua_checkpoint_dir() and
 * tunelua_error(), which are overwritten by the next call of the same function.
 *
 * Run by hand: without TUNELUA_CONNECT and with TUNELUA_PARAMS='{"lr":0.01}' the config
 * is that object, each report is printed on stdout as `[tunelua] report {...}` and
 * returns TUNELUA_CONTINUE, checkpoints are made under TUNELUA_TRIAL_DIR (or the current
 * directory) and record_checkpoint returns its argument (made absolute). Optional
 * TUNELUA_RESTORE (a directory) and TUNELUA_SHARED (a JSON object name -> path) stand in
 * for the engine's restore and shared, as in the Python client.
 *
 * Building: the implementation needs POSIX (sockets, getaddrinfo, realpath). It defines
 * _XOPEN_SOURCE 700 itself when none of _POSIX_C_SOURCE, _XOPEN_SOURCE, _GNU_SOURCE is
 * defined, which works when tunelua.h comes before any system header; otherwise build
 * with -D_XOPEN_SOURCE=700 (or -D_GNU_SOURCE). Numbers are read with strtod and
 * written with printf: keep the C locale for LC_NUMERIC.
 */
#ifndef TUNELUA_H
#define TUNELUA_H

#if defined(TUNELUA_IMPLEMENTATION) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && \
    !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700
#endif

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TUNELUA_PROTOCOL 1

/* Decisions (>= 0) and the error code (< 0). */
enum { TUNELUA_CONTINUE = 0, TUNELUA_STOP = 1, TUNELUA_PAUSE = 2, TUNELUA_ERROR = -1 };

/* The trial's config as JSON text (one object); NULL on error. Connects on first use. */
const char *tunelua_params_json(void);
/* Values at a dotted path ("optim.lr", "layers.0" indexes an array) of the config. A
 * missing value or one of another type gives dflt; string gives NULL. */
double tunelua_param_double(const char *path, double dflt);
long tunelua_param_int(const char *path, long dflt);
int tunelua_param_bool(const char *path, int dflt);
const char *tunelua_param_string(const char *path);
/* The raw JSON text of the value at path (any type), NULL when missing. */
const char *tunelua_param_json(const char *path);

/* Reports one result (a JSON object as text) and returns the engine's decision. */
int tunelua_report(const char *metrics_json);
/* Same, with the object formatted by printf; the outer braces may be left out. */
int tunelua_reportf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Builds the next report key by key (a non-finite double is sent as null); then
 * tunelua_report_metrics() sends it and starts a new one. */
void tunelua_metric_double(const char *key, double value);
void tunelua_metric_int(const char *key, long long value);
void tunelua_metric_bool(const char *key, int value);
void tunelua_metric_string(const char *key, const char *value);
void tunelua_metric_json(const char *key, const char *json);
int tunelua_report_metrics(void);

/* 1 when the last decision asked for a checkpoint (0 before any, and after recording one). */
int tunelua_should_checkpoint(void);
/* Makes and returns a fresh TUNELUA_TRIAL_DIR/checkpoints/tmp-<iter>-<pid>-<n>; NULL on error. */
const char *tunelua_checkpoint_dir(void);
/* Records a saved checkpoint directory with the engine (it must lie in the trial
 * directory) and waits for checkpoint_ok; returns the checkpoint's final path, NULL on error. */
const char *tunelua_record_checkpoint(const char *dir);
/* The checkpoint directory this run restores from; NULL for a fresh start (or on error). */
const char *tunelua_restore_dir(void);

const char *tunelua_trial_id(void);
const char *tunelua_trial_dir(void);
/* Results this trial has reported so far over all its runs; < 0 on error. */
long tunelua_iteration(void);
/* Path of the experiment's shared object NAME (tune.share); NULL when there is none. */
const char *tunelua_shared(const char *name);
/* The trainer finished by itself: sends done and closes. Call before exit(0). */
void tunelua_done(void);
/* The training code failed: sends an error with this message and closes. Then exit(1). */
void tunelua_fail(const char *message);
/* Why the last failing call failed. */
const char *tunelua_error(void);

/* The JSON helpers the client is built on, exported for tests and for trainers. */
/* End of the JSON value that starts at p (after leading whitespace); NULL if invalid. */
const char *tunelua_json_skip(const char *p);
/* 1 when s is exactly one JSON value (surrounded by whitespace only). */
int tunelua_json_valid(const char *s);
/* The value at a dotted path in json ("" or NULL: the whole value): start and *len. */
const char *tunelua_json_get(const char *json, const char *path, size_t *len);
/* The member named key (exactly, dots included) of the object at json. */
const char *tunelua_json_member(const char *json, const char *key, size_t *len);
/* Decodes the JSON string token at p (with its quotes) into a malloc'd UTF-8 string. */
char *tunelua_json_string(const char *p, size_t len);
/* Writes s as a quoted JSON string into out (snprintf style: returns the full length,
 * writes at most cap bytes, NUL included). Invalid UTF-8 bytes become U+FFFD. */
size_t tunelua_json_escape(char *out, size_t cap, const char *s);

#ifdef __cplusplus
}
#endif

#endif /* TUNELUA_H */

/* ------------------------------------------------------------------------------------ */
#if defined(TUNELUA_IMPLEMENTATION) && !defined(TUNELUA_IMPLEMENTATION_DONE)
#define TUNELUA_IMPLEMENTATION_DONE

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define TUNELUA__MAX_MSG (1u << 20)

/* ---- growable buffer ---- */

typedef struct {
  char *d;
  size_t n, cap;
  int oom;
} tunelua__buf;

static void tunelua__put(tunelua__buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *d = (char *)realloc(b->d, cap);
    if (!d) {
      b->oom = 1;
      return;
    }
    b->d = d, b->cap = cap;
  }
  memcpy(b->d + b->n, s, n);
  b->n += n;
  b->d[b->n] = 0;
}

static void tunelua__puts(tunelua__buf *b, const char *s) { tunelua__put(b, s, strlen(s)); }

static void tunelua__putstr(tunelua__buf *b, const char *s) {
  size_t n = tunelua_json_escape(NULL, 0, s);
  char *tmp = (char *)malloc(n + 1);
  if (!tmp) {
    b->oom = 1;
    return;
  }
  tunelua_json_escape(tmp, n + 1, s);
  tunelua__put(b, tmp, n);
  free(tmp);
}

static void tunelua__free(tunelua__buf *b) {
  free(b->d);
  b->d = NULL, b->n = b->cap = 0, b->oom = 0;
}

/* ---- JSON scanning ---- */

static const char *tunelua__ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

static int tunelua__hex(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static const char *tunelua__skip_string(const char *p) {
  p++;
  for (;;) {
    unsigned char c = (unsigned char)*p;
    if (c == 0 || c < 0x20) return NULL;
    if (c == '"') return p + 1;
    if (c == '\\') {
      p++;
      if (*p == 'u') {
        for (int i = 1; i <= 4; i++)
          if (tunelua__hex(p[i]) < 0) return NULL;
        p += 5;
      } else if (*p && strchr("\"\\/bfnrt", *p)) {
        p++;
      } else {
        return NULL;
      }
    } else {
      p++;
    }
  }
}

static const char *tunelua__skip_number(const char *p) {
  if (*p == '-') p++;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (*p >= '0' && *p <= '9') p++;
  } else {
    return NULL;
  }
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9')) return NULL;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!(*p >= '0' && *p <= '9')) return NULL;
    while (*p >= '0' && *p <= '9') p++;
  }
  return p;
}

static const char *tunelua__skip(const char *p, int depth) {
  p = tunelua__ws(p);
  if (depth > 256) return NULL;
  switch (*p) {
  case '"':
    return tunelua__skip_string(p);
  case '{':
  case '[': {
    char close = *p == '{' ? '}' : ']';
    int object = *p == '{';
    p = tunelua__ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
      if (object) {
        if (*p != '"' || !(p = tunelua__skip_string(p))) return NULL;
        p = tunelua__ws(p);
        if (*p++ != ':') return NULL;
      }
      if (!(p = tunelua__skip(p, depth + 1))) return NULL;
      p = tunelua__ws(p);
      if (*p == close) return p + 1;
      if (*p++ != ',') return NULL;
      p = tunelua__ws(p);
    }
  }
  case 't':
    return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
  case 'f':
    return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
  case 'n':
    return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
  default:
    return tunelua__skip_number(p);
  }
}

const char *tunelua_json_skip(const char *p) { return p ? tunelua__skip(p, 0) : NULL; }

int tunelua_json_valid(const char *s) {
  const char *e = tunelua_json_skip(s);
  return e && *tunelua__ws(e) == 0;
}

/* Length of the valid UTF-8 sequence at s, 0 if it is not one (overlongs and
 * surrogates included). */
static int tunelua__utf8_len(const unsigned char *s) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
  }
  return 0;
}

static size_t tunelua__utf8_put(char *o, unsigned long cp) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t tunelua_json_escape(char *out, size_t cap, const char *s) {
  static const char hexd[] = "0123456789abcdef";
  size_t n = 0;
  char tmp[8];
#define TUNELUA__EMIT(str, len)                                                                  \
  do {                                                                                         \
    for (size_t k_ = 0; k_ < (size_t)(len); k_++, n++)                                          \
      if (out && n + 1 < cap) out[n] = (str)[k_];                                              \
  } while (0)
  TUNELUA__EMIT("\"", 1);
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p) {
    unsigned char c = *p;
    const char *esc = NULL;
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default: break;
    }
    if (esc) {
      TUNELUA__EMIT(esc, 2);
      p++;
    } else if (c < 0x20 || c == 0x7F) {
      tmp[0] = '\\', tmp[1] = 'u', tmp[2] = '0', tmp[3] = '0';
      tmp[4] = hexd[c >> 4], tmp[5] = hexd[c & 15];
      TUNELUA__EMIT(tmp, 6);
      p++;
    } else {
      int len = tunelua__utf8_len(p);
      if (len == 0) {
        TUNELUA__EMIT("\\ufffd", 6);
        p++;
      } else {
        TUNELUA__EMIT((const char *)p, len);
        p += len;
      }
    }
  }
  TUNELUA__EMIT("\"", 1);
#undef TUNELUA__EMIT
  if (out && cap > 0) out[n < cap ? n : cap - 1] = 0;
  return n;
}

char *tunelua_json_string(const char *p, size_t len) {
  if (!p || len < 2 || p[0] != '"') return NULL;
  char *out = (char *)malloc(len + 1), *o = out;
  if (!out) return NULL;
  const char *end = p + len - 1;
  for (p++; p < end;) {
    if (*p != '\\') {
      *o++ = *p++;
      continue;
    }
    p++;
    char c = *p++;
    switch (c) {
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u': {
      unsigned long cp = 0;
      for (int i = 0; i < 4 && p < end; i++) cp = cp * 16 + (unsigned long)tunelua__hex(*p++);
      if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
        unsigned long lo = 0;
        for (int i = 2; i < 6; i++) lo = lo * 16 + (unsigned long)tunelua__hex(p[i]);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* a lone surrogate */
      o += tunelua__utf8_put(o, cp);
      break;
    }
    default: *o++ = c; break; /* " \ / */
    }
  }
  *o = 0;
  return out;
}

/* Does the string token at p (its quotes included) decode to key? */
static int tunelua__key_is(const char *p, const char *key) {
  const char *e = tunelua__skip_string(p);
  if (!e) return 0;
  size_t kl = strlen(key);
  if (!memchr(p, '\\', (size_t)(e - p))) /* the usual case: no escapes */
    return (size_t)(e - p) == kl + 2 && memcmp(p + 1, key, kl) == 0;
  char *s = tunelua_json_string(p, (size_t)(e - p));
  int eq = s && strcmp(s, key) == 0;
  free(s);
  return eq;
}

/* The member named key (keylen bytes of key) of the object at p, or NULL. */
static const char *tunelua__member(const char *p, const char *key, size_t keylen) {
  char *k = (char *)malloc(keylen + 1);
  if (!k) return NULL;
  memcpy(k, key, keylen);
  k[keylen] = 0;
  const char *found = NULL;
  p = tunelua__ws(p);
  if (*p == '{') {
    p = tunelua__ws(p + 1);
    while (*p == '"') {
      int match = tunelua__key_is(p, k);
      if (!(p = tunelua__skip_string(p))) break;
      p = tunelua__ws(p);
      if (*p++ != ':') break;
      p = tunelua__ws(p);
      if (match) found = p; /* the last of duplicate keys wins, as in most parsers */
      if (!(p = tunelua__skip(p, 1))) {
        found = NULL;
        break;
      }
      p = tunelua__ws(p);
      if (*p != ',') break;
      p = tunelua__ws(p + 1);
    }
  }
  free(k);
  return found;
}

static const char *tunelua__index(const char *p, const char *seg, size_t seglen) {
  size_t idx = 0;
  for (size_t i = 0; i < seglen; i++) {
    if (seg[i] < '0' || seg[i] > '9' || idx > 100000000) return NULL;
    idx = idx * 10 + (size_t)(seg[i] - '0');
  }
  p = tunelua__ws(p);
  if (*p != '[' || seglen == 0) return NULL;
  p = tunelua__ws(p + 1);
  if (*p == ']') return NULL;
  for (size_t i = 0;; i++) {
    if (i == idx) return p;
    if (!(p = tunelua__skip(p, 1))) return NULL;
    p = tunelua__ws(p);
    if (*p != ',') return NULL;
    p = tunelua__ws(p + 1);
  }
}

const char *tunelua_json_get(const char *json, const char *path, size_t *len) {
  if (!json) return NULL;
  const char *p = tunelua__ws(json);
  while (path && *path) {
    size_t seg = strcspn(path, ".");
    const char *q = tunelua__member(p, path, seg);
    if (!q) q = tunelua__index(p, path, seg);
    if (!q) return NULL;
    p = q;
    path += seg;
    if (*path == '.') path++;
  }
  const char *e = tunelua_json_skip(p);
  if (!e) return NULL;
  if (len) *len = (size_t)(e - p);
  return p;
}

const char *tunelua_json_member(const char *json, const char *key, size_t *len) {
  if (!json || !key) return NULL;
  const char *p = tunelua__member(json, key, strlen(key));
  const char *e = p ? tunelua_json_skip(p) : NULL;
  if (!e) return NULL;
  if (len) *len = (size_t)(e - p);
  return p;
}

/* Copies metrics into out with every bare nan/inf token outside strings (printf's
 * spellings of non-finite doubles, signed or not, any case) replaced by null. */
static int tunelua__word_is(const char *w, size_t n, const char *lower) {
  if (strlen(lower) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((w[i] | 0x20) != lower[i]) return 0;
  return 1;
}

static void tunelua__sanitize(tunelua__buf *out, const char *s) {
  while (*s) {
    if (*s == '"') {
      const char *e = tunelua__skip_string(s);
      if (!e) e = s + strlen(s);
      tunelua__put(out, s, (size_t)(e - s));
      s = e;
      continue;
    }
    const char *w = s;
    if (*w == '-' || *w == '+') w++;
    size_t n = 0;
    while ((w[n] >= 'a' && w[n] <= 'z') || (w[n] >= 'A' && w[n] <= 'Z')) n++;
    if (tunelua__word_is(w, n, "nan") || tunelua__word_is(w, n, "inf") ||
        tunelua__word_is(w, n, "infinity")) {
      size_t m = n;
      if (w[m] == '(') { /* glibc's nan(chars) */
        const char *c = strchr(w + m, ')');
        if (c) m = (size_t)(c - w) + 1;
      }
      tunelua__puts(out, "null");
      s = w + m;
      continue;
    }
    size_t m = n ? (size_t)(w - s) + n : 1; /* another word, or one character */
    tunelua__put(out, s, m);
    s += m;
  }
}

/* ---- session ---- */

enum { TUNELUA__NEW, TUNELUA__READY, TUNELUA__ALONE, TUNELUA__STOPPED, TUNELUA__CLOSED };

typedef struct tunelua__cached {
  struct tunelua__cached *next;
  int kind;
  char *key, *value;
} tunelua__cached;

static struct {
  int state, fd, failed, checkpoint, action, ckpt_n, owed, said;
  long iteration;
  char *config, *restore, *trial, *dir, *shared, *ckpt_path;
  char err[1024];
  tunelua__buf in, metrics;
  tunelua__cached *cache;
} tunelua__s = {TUNELUA__NEW, -1, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, {0},
                {NULL, 0, 0, 0}, {NULL, 0, 0, 0}, NULL};

static void tunelua__seterr(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tunelua__s.err, sizeof tunelua__s.err, fmt, ap);
  va_end(ap);
}

const char *tunelua_error(void) { return tunelua__s.err; }

static char *tunelua__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = (char *)malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void tunelua__close(void) {
  if (tunelua__s.fd >= 0) close(tunelua__s.fd);
  tunelua__s.fd = -1;
  tunelua__free(&tunelua__s.in);
  if (tunelua__s.state == TUNELUA__READY) tunelua__s.state = TUNELUA__CLOSED;
}

/* One cached string per (kind, key), so repeated getters do not allocate again. */
static const char *tunelua__cache(int kind, const char *key, char *value) {
  for (tunelua__cached *c = tunelua__s.cache; c; c = c->next)
    if (c->kind == kind && strcmp(c->key, key) == 0) {
      if (strcmp(c->value, value) != 0) break; /* changed: keep the old one alive too */
      free(value);
      return c->value;
    }
  tunelua__cached *c = (tunelua__cached *)malloc(sizeof *c);
  char *k = tunelua__strdup(key);
  if (!c || !k) {
    free(c), free(k);
    return value; /* leaks value rather than lose it */
  }
  c->kind = kind, c->key = k, c->value = value, c->next = tunelua__s.cache;
  tunelua__s.cache = c;
  return value;
}

static int tunelua__connect(const char *addr) {
  if (strncmp(addr, "unix:", 5) == 0) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(addr + 5) == 0 || strlen(addr + 5) >= sizeof sa.sun_path) {
      tunelua__seterr("bad socket path in TUNELUA_CONNECT=%s", addr);
      return -1;
    }
    strcpy(sa.sun_path, addr + 5);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      tunelua__seterr("cannot connect to the tunelua engine at %s: %s", addr, strerror(errno));
      if (fd >= 0) close(fd);
      return -1;
    }
    return fd;
  }
  if (strncmp(addr, "tcp:", 4) == 0) {
    char host[512];
    const char *colon = strrchr(addr + 4, ':');
    size_t hl = colon ? (size_t)(colon - (addr + 4)) : 0;
    if (!colon || hl == 0 || hl >= sizeof host || !colon[1]) {
      tunelua__seterr("TUNELUA_CONNECT=%s is not tcp:HOST:PORT", addr);
      return -1;
    }
    memcpy(host, addr + 4, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') { /* tcp:[::1]:7000 */
      memmove(host, host + 1, hl - 2);
      host[hl - 2] = 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
      tunelua__seterr("cannot resolve %s: %s", addr, gai_strerror(rc));
      return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
      if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
      err = errno;
      if (fd >= 0) close(fd);
      fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
      tunelua__seterr("cannot connect to the tunelua engine at %s: %s", addr, strerror(err));
      return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  tunelua__seterr("TUNELUA_CONNECT=%s must start with unix: or tcp:", addr);
  return -1;
}

static char *tunelua__recv_line(void);

static int tunelua__send(const char *data, size_t n) {
  if (n > TUNELUA__MAX_MSG) {
    tunelua__seterr("message of %zu bytes is larger than the protocol's 1 MiB", n);
    return -1;
  }
  while (n > 0) {
#ifdef MSG_NOSIGNAL
    ssize_t w = send(tunelua__s.fd, data, n, MSG_NOSIGNAL);
#else
    ssize_t w = write(tunelua__s.fd, data, n);
#endif
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      /* with the welcome still owed, the engine may have refused the hello and closed: its
       * error message, still in the socket, says why */
      tunelua__s.said = 0;
      if (tunelua__s.owed) free(tunelua__recv_line());
      if (!tunelua__s.said) tunelua__seterr("lost the connection to the tunelua engine: %s", strerror(e));
      tunelua__close();
      return -1;
    }
    data += w, n -= (size_t)w;
  }
  return 0;
}

/* Reads the next message (a malloc'd line without its newline); an engine error message
 * becomes NULL with its text in tunelua_error(), as does EOF. */
static char *tunelua__recv_line(void) {
  tunelua__buf *b = &tunelua__s.in;
  for (;;) {
    char *nl = b->n ? (char *)memchr(b->d, '\n', b->n) : NULL;
    if (nl) {
      size_t len = (size_t)(nl - b->d);
      char *line = (char *)malloc(len + 1);
      if (!line) break;
      memcpy(line, b->d, len);
      line[len] = 0;
      memmove(b->d, nl + 1, b->n - len - 1);
      b->n -= len + 1;
      size_t tl;
      const char *t = tunelua_json_get(line, "type", &tl);
      if (!t || *t != '"') {
        tunelua__seterr("malformed message from the engine: %.200s", line);
        free(line);
        tunelua__close();
        return NULL;
      }
      if (tunelua__key_is(t, "error")) {
        size_t ml;
        const char *m = tunelua_json_get(line, "message", &ml);
        char *text = m && *m == '"' ? tunelua_json_string(m, ml) : NULL;
        tunelua__seterr("%s", text ? text : "the tunelua engine reported an error");
        tunelua__s.said = 1;
        free(text), free(line);
        tunelua__close();
        return NULL;
      }
      return line;
    }
    if (b->n > TUNELUA__MAX_MSG) {
      tunelua__seterr("message from the engine is longer than 1 MiB");
      break;
    }
    char chunk[4096];
    /* wait in poll, not in read: a reader blocked in read(2) on a Unix socket is woken each
     * time the engine consumes what this side wrote (write space), a wasted wakeup on both
     * sides per report; poll only wakes for input */
    struct pollfd pfd = {tunelua__s.fd, POLLIN, 0};
    if (poll(&pfd, 1, -1) < 0 && errno == EINTR) continue;
    ssize_t r = read(tunelua__s.fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      tunelua__seterr("the tunelua engine closed the connection");
      break;
    }
    tunelua__put(b, chunk, (size_t)r);
    if (b->oom) {
      tunelua__seterr("out of memory");
      break;
    }
  }
  tunelua__close();
  return NULL;
}

static char *tunelua__get_string(const char *json, const char *path) {
  size_t n;
  const char *v = tunelua_json_get(json, path, &n);
  return v && *v == '"' ? tunelua_json_string(v, n) : NULL;
}

static char *tunelua__get_raw(const char *json, const char *path) {
  size_t n;
  const char *v = tunelua_json_get(json, path, &n);
  if (!v) return NULL;
  char *s = (char *)malloc(n + 1);
  if (s) memcpy(s, v, n), s[n] = 0;
  return s;
}

static int tunelua__is_welcome(const char *w) {
  size_t n;
  const char *t = tunelua_json_get(w, "type", &n), *cfg = tunelua_json_get(w, "config", &n);
  return tunelua__key_is(t, "welcome") && cfg && *cfg == '{';
}

static long tunelua__iteration_of(const char *w, long dflt) {
  size_t n;
  const char *it = tunelua_json_get(w, "iteration", &n);
  return it && *it >= '0' && *it <= '9' ? strtol(it, NULL, 10) : dflt;
}

/* The next message, after the welcome the engine still owes (see tunelua__hello): its config
 * and restore must be those this process started on; its iteration is taken (another
 * process of the trial may have reported in between). */
static char *tunelua__recv(void) {
  if (tunelua__s.owed) {
    tunelua__s.owed = 0;
    char *w = tunelua__recv_line();
    if (!w) return NULL;
    char *cfg = tunelua__is_welcome(w) ? tunelua__get_raw(w, "config") : NULL;
    char *restore = tunelua__get_string(w, "restore");
    int ok = cfg && strcmp(cfg, tunelua__s.config) == 0 &&
             (restore && tunelua__s.restore ? strcmp(restore, tunelua__s.restore) == 0
                                            : !restore && !tunelua__s.restore);
    free(cfg), free(restore);
    if (ok) {
      tunelua__s.iteration = tunelua__iteration_of(w, tunelua__s.iteration);
    } else {
      tunelua__seterr("the engine's welcome differs from TUNELUA_WELCOME, which this process "
                      "started on: %.200s", w);
      tunelua__close();
    }
    free(w);
    if (!ok) return NULL;
  }
  return tunelua__recv_line();
}

static int tunelua__hello(void) {
  const char *addr = getenv("TUNELUA_CONNECT");
  int fd = tunelua__connect(addr);
  if (fd < 0) return -1;
  tunelua__s.fd = fd;
  tunelua__s.state = TUNELUA__READY;
  tunelua__buf m = {NULL, 0, 0, 0};
  char pid[64];
  tunelua__puts(&m, "{\"type\":\"hello\",\"protocol\":1,\"trial\":");
  tunelua__putstr(&m, getenv("TUNELUA_TRIAL_ID") ? getenv("TUNELUA_TRIAL_ID") : "");
  tunelua__puts(&m, ",\"token\":");
  tunelua__putstr(&m, getenv("TUNELUA_TOKEN") ? getenv("TUNELUA_TOKEN") : "");
  snprintf(pid, sizeof pid, ",\"pid\":%ld,\"api\":\"function\"}\n", (long)getpid());
  tunelua__puts(&m, pid);
  int rc = m.oom ? (tunelua__seterr("out of memory"), -1) : tunelua__send(m.d, m.n);
  tunelua__free(&m);
  /* the engine put the welcome it is about to send in TUNELUA_WELCOME: the process it
   * started (a session leader; not a child of it, which may come after other reports) starts
   * on that copy, and reads and checks the one on the socket before its first decision */
  const char *env = getenv("TUNELUA_WELCOME");
  int early = rc == 0 && env && getsid(0) == getpid() && tunelua_json_valid(env) &&
              tunelua__is_welcome(env);
  char *w = early ? tunelua__strdup(env) : rc == 0 ? tunelua__recv() : NULL;
  if (!w) {
    if (early) tunelua__seterr("out of memory");
    tunelua__close();
    return -1;
  }
  if (!early && !tunelua__is_welcome(w)) { /* the copy was checked before it was taken */
    tunelua__seterr("expected a welcome with a config from the engine, got %.200s", w);
    free(w);
    tunelua__close();
    return -1;
  }
  tunelua__s.owed = early;
  tunelua__s.config = tunelua__get_raw(w, "config");
  tunelua__s.restore = tunelua__get_string(w, "restore");
  tunelua__s.trial = tunelua__get_string(w, "trial");
  tunelua__s.dir = tunelua__get_string(w, "trial_dir");
  tunelua__s.shared = tunelua__get_raw(w, "shared");
  tunelua__s.iteration = tunelua__iteration_of(w, 0);
  free(w);
  return 0;
}

/* Starts the session on first use: the engine (TUNELUA_CONNECT) or TUNELUA_PARAMS. A
 * failure is remembered and repeated. */
static int tunelua__start(void) {
  if (tunelua__s.failed) return -1;
  if (tunelua__s.state != TUNELUA__NEW) return 0;
  const char *addr = getenv("TUNELUA_CONNECT"), *params = getenv("TUNELUA_PARAMS");
  int rc;
  if (addr && *addr) {
    rc = tunelua__hello();
  } else if (params) {
    if (*tunelua__ws(params) != '{' || !tunelua_json_valid(params)) {
      tunelua__seterr("TUNELUA_PARAMS must be a JSON object, got %.200s", params);
      rc = -1;
    } else {
      const char *restore = getenv("TUNELUA_RESTORE"), *shared = getenv("TUNELUA_SHARED");
      tunelua__s.config = tunelua__strdup(params);
      tunelua__s.restore = restore && *restore ? tunelua__strdup(restore) : NULL;
      if (shared && *tunelua__ws(shared) == '{' && tunelua_json_valid(shared))
        tunelua__s.shared = tunelua__strdup(shared);
      tunelua__s.state = TUNELUA__ALONE;
      rc = 0;
    }
  } else {
    tunelua__seterr("this trainer is meant to be run by the tunelua engine (`tunelua "
                    "EXPERIMENT.lua`), which sets TUNELUA_CONNECT; to run it by hand, give its "
                    "config as JSON in TUNELUA_PARAMS, e.g. TUNELUA_PARAMS='{\"lr\": 0.01}'");
    rc = -1;
  }
  if (rc < 0) {
    tunelua__s.failed = 1;
    tunelua__s.state = TUNELUA__CLOSED;
  }
  return rc;
}

static void tunelua__need(void) {
  if (tunelua__start() < 0) {
    fprintf(stderr, "tunelua: %s\n", tunelua__s.err);
    exit(1);
  }
}

const char *tunelua_params_json(void) { return tunelua__start() < 0 ? NULL : tunelua__s.config; }

double tunelua_param_double(const char *path, double dflt) {
  tunelua__need();
  size_t n;
  const char *v = tunelua_json_get(tunelua__s.config, path, &n);
  return v && (*v == '-' || (*v >= '0' && *v <= '9')) ? strtod(v, NULL) : dflt;
}

long tunelua_param_int(const char *path, long dflt) {
  tunelua__need();
  size_t n;
  const char *v = tunelua_json_get(tunelua__s.config, path, &n);
  if (!v || !(*v == '-' || (*v >= '0' && *v <= '9'))) return dflt;
  if (!memchr(v, '.', n) && !memchr(v, 'e', n) && !memchr(v, 'E', n)) return strtol(v, NULL, 10);
  double d = strtod(v, NULL);
  return d >= -9.2e18 && d <= 9.2e18 ? (long)d : dflt;
}

int tunelua_param_bool(const char *path, int dflt) {
  tunelua__need();
  size_t n;
  const char *v = tunelua_json_get(tunelua__s.config, path, &n);
  if (v && *v == 't') return 1;
  if (v && *v == 'f') return 0;
  return dflt;
}

const char *tunelua_param_string(const char *path) {
  tunelua__need();
  char *s = tunelua__get_string(tunelua__s.config, path);
  return s ? tunelua__cache(1, path ? path : "", s) : NULL;
}

const char *tunelua_param_json(const char *path) {
  if (tunelua__start() < 0) return NULL;
  char *s = tunelua__get_raw(tunelua__s.config, path);
  return s ? tunelua__cache(2, path ? path : "", s) : NULL;
}

int tunelua_report(const char *metrics_json) {
  if (tunelua__start() < 0) return TUNELUA_ERROR;
  if (tunelua__s.state == TUNELUA__STOPPED) return tunelua__s.action;
  if (tunelua__s.state != TUNELUA__READY && tunelua__s.state != TUNELUA__ALONE) {
    tunelua__seterr("cannot report: the connection to the engine is closed");
    return TUNELUA_ERROR;
  }
  tunelua__buf m = {NULL, 0, 0, 0};
  tunelua__sanitize(&m, metrics_json ? metrics_json : "");
  if (m.oom || !m.d || *tunelua__ws(m.d) != '{' || !tunelua_json_valid(m.d)) {
    tunelua__seterr("metrics must be one JSON object, got %.200s",
                    metrics_json ? metrics_json : "NULL");
    tunelua__free(&m);
    return TUNELUA_ERROR;
  }
  if (tunelua__s.state == TUNELUA__ALONE) {
    size_t end = m.n;
    while (end > 0 && m.d[end - 1] != '}') end--;
    m.n = end - 1; /* drop the closing brace */
    const char *q = m.d + m.n;
    while (q > m.d && (q[-1] == ' ' || q[-1] == '\n' || q[-1] == '\t' || q[-1] == '\r')) q--;
    char tail[64];
    snprintf(tail, sizeof tail, "%s\"training_iteration\":%ld}", q[-1] == '{' ? "" : ",",
             ++tunelua__s.iteration);
    tunelua__put(&m, tail, strlen(tail));
    printf("[tunelua] report %s\n", m.d);
    fflush(stdout);
    tunelua__free(&m);
    tunelua__s.action = TUNELUA_CONTINUE;
    return TUNELUA_CONTINUE;
  }
  tunelua__buf msg = {NULL, 0, 0, 0};
  tunelua__puts(&msg, "{\"type\":\"report\",\"metrics\":");
  tunelua__put(&msg, m.d, m.n);
  tunelua__puts(&msg, "}\n");
  tunelua__free(&m);
  int rc = msg.oom ? (tunelua__seterr("out of memory"), -1) : tunelua__send(msg.d, msg.n);
  tunelua__free(&msg);
  char *d = rc == 0 ? tunelua__recv() : NULL;
  if (!d) return TUNELUA_ERROR;
  size_t n;
  const char *t = tunelua_json_get(d, "type", &n), *a = tunelua_json_get(d, "action", &n);
  int action = !a ? -1 : tunelua__key_is(a, "continue") ? TUNELUA_CONTINUE
                       : tunelua__key_is(a, "stop")     ? TUNELUA_STOP
                       : tunelua__key_is(a, "pause")    ? TUNELUA_PAUSE
                                                        : -1;
  if (!tunelua__key_is(t, "decision") || action < 0) {
    tunelua__seterr("expected a decision from the engine, got %.200s", d);
    free(d);
    tunelua__close();
    return TUNELUA_ERROR;
  }
  const char *c = tunelua_json_get(d, "checkpoint", &n);
  tunelua__s.checkpoint = c && *c == 't';
  tunelua__s.iteration = tunelua__iteration_of(d, tunelua__s.iteration + 1);
  tunelua__s.action = action;
  free(d);
  if (action != TUNELUA_CONTINUE) {
    tunelua__s.state = TUNELUA__STOPPED;
    if (!tunelua__s.checkpoint) tunelua__close(); /* else kept open for record_checkpoint */
  }
  return action;
}

int tunelua_reportf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    tunelua__seterr("tunelua_reportf: bad format");
    return TUNELUA_ERROR;
  }
  char *s = (char *)malloc((size_t)n + 3);
  if (!s) {
    tunelua__seterr("out of memory");
    return TUNELUA_ERROR;
  }
  va_start(ap, fmt);
  vsnprintf(s + 1, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int rc;
  if (*tunelua__ws(s + 1) == '{') {
    rc = tunelua_report(s + 1);
  } else {
    s[0] = '{', s[n + 1] = '}', s[n + 2] = 0;
    rc = tunelua_report(s);
  }
  free(s);
  return rc;
}

static void tunelua__metric_key(const char *key) {
  tunelua__buf *b = &tunelua__s.metrics;
  tunelua__puts(b, b->n == 0 ? "{" : ",");
  tunelua__putstr(b, key);
  tunelua__puts(b, ":");
}

void tunelua_metric_double(const char *key, double value) {
  char num[64];
  if (!isfinite(value)) {
    strcpy(num, "null");
  } else { /* the shortest of %.15g, %.16g, %.17g that reads back exactly */
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(num, sizeof num, "%.*g", prec, value);
      if (strtod(num, NULL) == value) break;
    }
  }
  tunelua__metric_key(key);
  tunelua__puts(&tunelua__s.metrics, num);
}

void tunelua_metric_int(const char *key, long long value) {
  char num[32];
  snprintf(num, sizeof num, "%lld", value);
  tunelua__metric_key(key);
  tunelua__puts(&tunelua__s.metrics, num);
}

void tunelua_metric_bool(const char *key, int value) {
  tunelua__metric_key(key);
  tunelua__puts(&tunelua__s.metrics, value ? "true" : "false");
}

void tunelua_metric_string(const char *key, const char *value) {
  tunelua__metric_key(key);
  if (value)
    tunelua__putstr(&tunelua__s.metrics, value);
  else
    tunelua__puts(&tunelua__s.metrics, "null");
}

void tunelua_metric_json(const char *key, const char *json) {
  tunelua__metric_key(key);
  tunelua__puts(&tunelua__s.metrics, json && tunelua_json_valid(json) ? json : "null");
}

int tunelua_report_metrics(void) {
  tunelua__buf *b = &tunelua__s.metrics;
  tunelua__puts(b, b->n == 0 ? "{}" : "}");
  int rc;
  if (b->oom) {
    tunelua__seterr("out of memory");
    rc = TUNELUA_ERROR;
  } else {
    rc = tunelua_report(b->d);
  }
  tunelua__free(b);
  return rc;
}

int tunelua_should_checkpoint(void) { return tunelua__s.checkpoint; }

const char *tunelua_trial_dir(void) {
  static char cwd[4096];
  const char *d = getenv("TUNELUA_TRIAL_DIR");
  if (d && *d) return d;
  if (tunelua__s.dir) return tunelua__s.dir;
  if (getenv("TUNELUA_CONNECT") && tunelua__start() == 0 && tunelua__s.dir) return tunelua__s.dir;
  return getcwd(cwd, sizeof cwd) ? cwd : ".";
}

const char *tunelua_trial_id(void) {
  const char *id = getenv("TUNELUA_TRIAL_ID");
  if (id && *id) return id;
  if (tunelua__start() < 0) return NULL;
  return tunelua__s.trial ? tunelua__s.trial : "standalone";
}

long tunelua_iteration(void) { return tunelua__start() < 0 ? -1 : tunelua__s.iteration; }

const char *tunelua_restore_dir(void) { return tunelua__start() < 0 ? NULL : tunelua__s.restore; }

const char *tunelua_shared(const char *name) {
  if (tunelua__start() < 0 || !name) return NULL;
  size_t n;
  const char *v = tunelua__s.shared ? tunelua_json_member(tunelua__s.shared, name, &n) : NULL;
  char *s = v && *v == '"' ? tunelua_json_string(v, n) : NULL;
  if (!s) {
    tunelua__seterr("the experiment shares no object named %s", name);
    return NULL;
  }
  return tunelua__cache(3, name, s);
}

const char *tunelua_checkpoint_dir(void) {
  static char path[4352];
  char base[4096];
  if (tunelua__start() < 0) return NULL;
  snprintf(base, sizeof base, "%s/checkpoints", tunelua_trial_dir());
  if (mkdir(base, 0777) != 0 && errno != EEXIST) {
    tunelua__seterr("cannot make %s: %s", base, strerror(errno));
    return NULL;
  }
  for (int tries = 0; tries < 1000; tries++) {
    snprintf(path, sizeof path, "%s/tmp-%ld-%ld-%d", base, tunelua__s.iteration, (long)getpid(),
             ++tunelua__s.ckpt_n);
    if (mkdir(path, 0777) == 0) return path;
    if (errno != EEXIST) break;
  }
  tunelua__seterr("cannot make %s: %s", path, strerror(errno));
  return NULL;
}

const char *tunelua_record_checkpoint(const char *dir) {
  if (tunelua__start() < 0) return NULL;
  char *abs = dir ? realpath(dir, NULL) : NULL;
  if (!abs) {
    tunelua__seterr("checkpoint directory %s: %s", dir ? dir : "NULL", strerror(errno));
    return NULL;
  }
  if (tunelua__s.state == TUNELUA__ALONE) {
    tunelua__s.checkpoint = 0;
    free(tunelua__s.ckpt_path);
    return tunelua__s.ckpt_path = abs;
  }
  if (tunelua__s.fd < 0) {
    tunelua__seterr("cannot record a checkpoint: the connection to the engine is closed");
    free(abs);
    return NULL;
  }
  tunelua__buf m = {NULL, 0, 0, 0};
  tunelua__puts(&m, "{\"type\":\"checkpoint\",\"path\":");
  tunelua__putstr(&m, abs);
  tunelua__puts(&m, "}\n");
  free(abs);
  int rc = m.oom ? (tunelua__seterr("out of memory"), -1) : tunelua__send(m.d, m.n);
  tunelua__free(&m);
  char *r = rc == 0 ? tunelua__recv() : NULL;
  if (!r) return NULL;
  size_t n;
  const char *t = tunelua_json_get(r, "type", &n);
  char *path = tunelua__get_string(r, "path");
  if (!tunelua__key_is(t, "checkpoint_ok") || !path) {
    tunelua__seterr("expected checkpoint_ok from the engine, got %.200s", r);
    free(r), free(path);
    tunelua__close();
    return NULL;
  }
  free(r);
  tunelua__s.checkpoint = 0;
  free(tunelua__s.ckpt_path);
  tunelua__s.ckpt_path = path;
  if (tunelua__s.state == TUNELUA__STOPPED) tunelua__close(); /* it was the last word */
  return path;
}

void tunelua_done(void) {
  if (tunelua__s.state == TUNELUA__READY && tunelua__s.fd >= 0) {
    static const char done[] = "{\"type\":\"done\"}\n";
    tunelua__send(done, sizeof done - 1);
    tunelua__s.state = TUNELUA__CLOSED;
  }
  tunelua__close();
}

void tunelua_fail(const char *message) {
  if (tunelua__s.state == TUNELUA__READY && tunelua__s.fd >= 0) {
    tunelua__buf m = {NULL, 0, 0, 0};
    tunelua__puts(&m, "{\"type\":\"error\",\"message\":");
    tunelua__putstr(&m, message ? message : "trainer failed");
    tunelua__puts(&m, "}\n");
    if (!m.oom && m.n <= TUNELUA__MAX_MSG) tunelua__send(m.d, m.n);
    tunelua__free(&m);
    tunelua__s.state = TUNELUA__CLOSED;
  }
  tunelua__close();
}

#endif /* TUNELUA_IMPLEMENTATION */
