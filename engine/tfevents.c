#include "tfevents.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "trial.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define TL_CRC_HW 1
#endif

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ---- */

static uint32_t crc_table[8][256];
static int crc_mode; /* 0 not chosen yet, 1 tables, 2 SSE4.2 */

static void crc_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[0][i] = c;
  }
  for (int t = 1; t < 8; t++)
    for (int i = 0; i < 256; i++)
      crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Slice-by-8: eight bytes per step through eight tables. Bytes are assembled explicitly, so
 * it is right on any byte order (compilers fuse the loads on little-endian machines). */
static uint32_t crc_slice8(uint32_t crc, const uint8_t *p, size_t n) {
  const uint32_t(*T)[256] = (const uint32_t(*)[256])crc_table;
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24);
    uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                  (uint32_t)p[7] << 24;
    crc = T[7][lo & 0xff] ^ T[6][(lo >> 8) & 0xff] ^ T[5][(lo >> 16) & 0xff] ^ T[4][lo >> 24] ^
          T[3][hi & 0xff] ^ T[2][(hi >> 8) & 0xff] ^ T[1][(hi >> 16) & 0xff] ^ T[0][hi >> 24];
  }
  while (n--) crc = T[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#ifdef TL_CRC_HW
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const uint8_t *p,
                                                             size_t n) {
  uint64_t c = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  uint32_t c32 = (uint32_t)c;
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
#endif

static void crc_choose(void) {
  crc_tables();
  crc_mode = 1;
#ifdef TL_CRC_HW
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) crc_mode = 2;
#endif
}

uint32_t tl_crc32c(uint32_t crc, const void *data, size_t n) {
  if (!crc_mode) crc_choose();
#ifdef TL_CRC_HW
  if (crc_mode == 2) return ~crc_sse42(~crc, data, n);
#endif
  return ~crc_slice8(~crc, data, n);
}

uint32_t tl_crc32c_portable(uint32_t crc, const void *data, size_t n) {
  if (!crc_mode) crc_choose();
  return ~crc_slice8(~crc, data, n);
}

uint32_t tl_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* ---- protobuf wire format, by hand ---- */

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Event.wall_time (field 1, fixed64 double). */
static size_t put_wall(uint8_t *p, double wall) {
  uint64_t u;
  memcpy(&u, &wall, 8);
  p[0] = 0x09;
  put_le64(p + 1, u);
  return 9;
}

/* Room kept before an Event's body while the body is encoded: the TFRecord header (12),
 * wall_time (9), step (1 + 10), the summary's tag and length (1 + 10), rounded up. */
#define GAP 48

/* The bytes from start + GAP to the end of b are the rest of an Event whose first fields are
 * head[0..hlen): slides them down behind the TFRecord header and head, appends the footer. */
static size_t seal(tl_buf *b, size_t start, const uint8_t *head, size_t hlen) {
  static const char footer_room[4];
  size_t body = b->len - start - GAP, len = hlen + body;
  uint8_t *p = (uint8_t *)b->data + start;
  put_le64(p, (uint64_t)len);
  put_le32(p + 8, tl_crc32c_mask(tl_crc32c(0, p, 8)));
  memcpy(p + 12, head, hlen);
  memmove(p + 12 + hlen, p + GAP, body);
  b->len = start + 12 + len;
  tl_buf_add(b, footer_room, 4); /* may move b->data */
  p = (uint8_t *)b->data + start;
  put_le32(p + 12 + len, tl_crc32c_mask(tl_crc32c(0, p + 12, len)));
  return b->len - start;
}

typedef struct {
  tl_buf *b;
  int n;
} scalars;

/* One Summary.value (field 1): Value { tag = 1 (string), simple_value = 2 (float) }. */
static void add_scalar(void *ud, const char *key, const cJSON *v) {
  scalars *s = ud;
  double x;
  if (cJSON_IsNumber(v)) x = v->valuedouble;
  else if (cJSON_IsBool(v)) x = cJSON_IsTrue(v) ? 1 : 0;
  else return;
  if (!isfinite(x) || strcmp(key, "training_iteration") == 0 || strcmp(key, "timestamp") == 0)
    return;
  size_t klen = strlen(key), vlen = 1 + varint_size(klen) + klen + 5;
  uint8_t h[1 + 10 + 1 + 10], t[5];
  size_t n = 0;
  h[n++] = 0x0a;
  n += put_varint(h + n, vlen);
  h[n++] = 0x0a;
  n += put_varint(h + n, klen);
  float f = (float)x;
  uint32_t u;
  memcpy(&u, &f, 4);
  t[0] = 0x15;
  put_le32(t + 1, u);
  tl_buf_add(s->b, (const char *)h, n);
  tl_buf_add(s->b, key, klen);
  tl_buf_add(s->b, (const char *)t, 5);
  s->n++;
}

size_t tl_tfevents_encode(tl_buf *b, const cJSON *result, long step, double wall) {
  static const char room[GAP];
  static tl_buf prefix; /* reused: the loop is single-threaded */
  size_t start = b->len;
  tl_buf_add(b, room, GAP);
  scalars s = {b, 0};
  tl_buf_reset(&prefix);
  if (cJSON_IsObject(result)) tl_json_flatten(result, &prefix, add_scalar, &s);
  if (!s.n) {
    b->len = start;
    b->data[start] = 0;
    return 0;
  }
  uint8_t head[GAP];
  size_t h = put_wall(head, wall);
  head[h++] = 0x10; /* step, field 2, varint */
  h += put_varint(head + h, (uint64_t)(int64_t)step);
  head[h++] = 0x2a; /* summary, field 5, length-delimited */
  h += put_varint(head + h, b->len - start - GAP);
  return seal(b, start, head, h);
}

size_t tl_tfevents_header(tl_buf *b, double wall) {
  static const char room[GAP];
  static const char version[] = "brain.Event:2";
  size_t start = b->len;
  tl_buf_add(b, room, GAP);
  uint8_t head[GAP];
  size_t h = put_wall(head, wall);
  head[h++] = 0x1a; /* file_version, field 3, length-delimited */
  head[h++] = (uint8_t)(sizeof version - 1);
  memcpy(head + h, version, sizeof version - 1);
  h += sizeof version - 1;
  return seal(b, start, head, h);
}

char *tl_tfevents_path(const char *dir) {
  static long run_time;
  static char host[256];
  if (!run_time) {
    run_time = (long)tl_wallclock();
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) strcpy(host, "localhost");
    for (char *c = host; *c; c++)
      if (*c == '/') *c = '_';
  }
  return tl_strfmt("%s/events.out.tfevents.%ld.%s", dir, run_time, host);
}

/* ---- reading back (tl_tfevents_repair) ---- */

static uint64_t get_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; *p < end && shift < 64; shift += 7) {
    uint8_t c = *(*p)++;
    *v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return 0;
  }
  return -1;
}

/* The step of an Event that holds a Summary; 0 when it holds none (the file_version
 * record) or cannot be decoded. */
static long event_step(const uint8_t *p, const uint8_t *end) {
  uint64_t tag, v, step = 0;
  int summary = 0;
  while (p < end) {
    if (get_varint(&p, end, &tag) != 0) return 0;
    switch (tag & 7) {
    case 0:
      if (get_varint(&p, end, &v) != 0) return 0;
      if (tag >> 3 == 2) step = v;
      break;
    case 1: p += 8; break;
    case 5: p += 4; break;
    case 2:
      if (get_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p)) return 0;
      summary |= tag >> 3 == 5;
      p += v;
      break;
    default: return 0;
    }
  }
  return summary && p == end && (int64_t)step > 0 ? (long)step : 0;
}

long tl_tfevents_repair(const char *path, long max_step, void (*step)(void *, long), void *ud) {
  size_t n;
  char *all = tl_read_file(path, &n);
  if (!all) return -1;
  const uint8_t *d = (const uint8_t *)all;
  size_t at = 0, keep_len = 0;
  long max = 0;
  int dropped = 0;
  tl_buf keep; /* what stays, once a record has been dropped */
  tl_buf_init(&keep);
  while (n - at >= 12) {
    uint64_t len = get_le(d + at, 8);
    if ((uint32_t)get_le(d + at + 8, 4) != tl_crc32c_mask(tl_crc32c(0, d + at, 8)) ||
        len > n - at - 16 ||
        (uint32_t)get_le(d + at + 12 + len, 4) != tl_crc32c_mask(tl_crc32c(0, d + at + 12, len)))
      break;
    size_t rec = 16 + (size_t)len;
    long s = event_step(d + at + 12, d + at + 12 + len);
    if (max_step >= 0 && s > max_step) {
      if (!dropped) tl_buf_add(&keep, all, at);
      dropped = 1;
    } else {
      if (dropped) tl_buf_add(&keep, all + at, rec);
      if (s > 0 && step) step(ud, s);
      if (s > max) max = s;
    }
    at += rec;
  }
  keep_len = dropped ? keep.len : at;
  if (dropped || at != n) { /* a torn or damaged tail, or steps the journal never recorded */
    const char *data = !dropped ? all : keep.data ? keep.data : "";
    if (tl_write_file_atomic(path, data, keep_len) != 0) max = -1;
  }
  tl_buf_free(&keep);
  free(all);
  return max;
}
