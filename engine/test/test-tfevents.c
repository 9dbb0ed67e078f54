#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

#include "test.h"
#include "tfevents.h"
#include "util.h"

static uint32_t le32(const char *p) {
  const uint8_t *u = (const uint8_t *)p;
  return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* The check value of the CRC catalogue and the iSCSI vectors of RFC 3720, appendix B.4, on
 * both paths (SSE4.2 where the CPU has it, and the tables). */
TEST(crc32c_known_vectors) {
  uint8_t zeros[32] = {0}, ones[32], up[32], down[32];
  for (int i = 0; i < 32; i++) ones[i] = 0xff, up[i] = (uint8_t)i, down[i] = (uint8_t)(31 - i);
  for (int portable = 0; portable < 2; portable++) {
    uint32_t (*crc)(uint32_t, const void *, size_t) = portable ? tl_crc32c_portable : tl_crc32c;
    CHECK(crc(0, "123456789", 9) == 0xE3069283u);
    CHECK(crc(0, zeros, 32) == 0x8A9136AAu);
    CHECK(crc(0, ones, 32) == 0x62A8AB43u);
    CHECK(crc(0, up, 32) == 0x46DD794Eu);
    CHECK(crc(0, down, 32) == 0x113FDB5Cu);
    CHECK(crc(0, "", 0) == 0);
    /* continuing a CRC over a second piece gives that of the whole */
    CHECK(crc(crc(0, "12345", 5), "6789", 4) == 0xE3069283u);
  }
}

TEST(crc32c_paths_agree_at_every_length_and_offset) {
  uint8_t data[300];
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n + off <= sizeof data; n += 7)
      CHECK(tl_crc32c(0, data + off, n) == tl_crc32c_portable(0, data + off, n));
}

TEST(crc32c_mask) {
  CHECK(tl_crc32c_mask(0) == 0xa282ead8u);
  CHECK(tl_crc32c_mask(0xE3069283u) == (((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u));
}

/* A record checked byte by byte: {"x": 0.5} at step 1, wall time 2. */
TEST(encode_one_scalar_exactly) {
  cJSON *r = cJSON_Parse("{\"x\":0.5,\"training_iteration\":1,\"timestamp\":2,\"trial_id\":\"a\"}");
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_adds(&b, "prefix"); /* appends after what the buffer holds */
  size_t n = tl_tfevents_encode(&b, r, 1, 2.0);
  static const uint8_t event[] = {
      0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, /* wall_time 2.0 */
      0x10, 0x01,                      /* step 1 */
      0x2a, 0x0a,                      /* summary, 10 bytes */
      0x0a, 0x08,                      /* value, 8 bytes */
      0x0a, 0x01, 'x',                 /* tag "x" */
      0x15, 0, 0, 0, 0x3f,             /* simple_value 0.5f */
  };
  CHECK(n == 12 + sizeof event + 4);
  CHECK(b.len == 6 + n);
  const char *rec = b.data + 6;
  CHECK(le32(rec) == sizeof event && le32(rec + 4) == 0);
  CHECK(le32(rec + 8) == tl_crc32c_mask(tl_crc32c(0, rec, 8)));
  CHECK(memcmp(rec + 12, event, sizeof event) == 0);
  CHECK(le32(rec + 12 + sizeof event) == tl_crc32c_mask(tl_crc32c(0, event, sizeof event)));
  cJSON_Delete(r);
  tl_buf_free(&b);
}

/* Nested objects become "a/b" tags, booleans 0/1; strings, nulls and arrays are skipped. */
TEST(encode_flattens_and_skips) {
  cJSON *r = cJSON_Parse("{\"a\":{\"b\":3,\"c\":{\"d\":-1}},\"ok\":true,\"no\":false,"
                         "\"s\":\"text\",\"n\":null,\"l\":[1,2],\"timestamp\":9}");
  tl_buf b;
  tl_buf_init(&b);
  size_t n = tl_tfevents_encode(&b, r, 300, 9.0);
  CHECK(n == b.len);
  CHECK(memmem(b.data, b.len, "\x0a\x03" "a/b\x15", 6));
  CHECK(memmem(b.data, b.len, "\x0a\x05" "a/c/d\x15\x00\x00\x80\xbf", 12));
  CHECK(memmem(b.data, b.len, "\x0a\x02" "ok\x15\x00\x00\x80\x3f", 9));
  CHECK(memmem(b.data, b.len, "\x0a\x02" "no\x15\x00\x00\x00\x00", 9));
  CHECK(!memmem(b.data, b.len, "text", 4) && !memmem(b.data, b.len, "timestamp", 9));
  CHECK(memmem(b.data, b.len, "\x10\xac\x02", 3)); /* step 300 as a varint */
  cJSON_Delete(r);
  /* nothing numeric: nothing written */
  r = cJSON_Parse("{\"s\":\"x\",\"timestamp\":1,\"training_iteration\":1}");
  tl_buf_reset(&b);
  CHECK(tl_tfevents_encode(&b, r, 1, 1.0) == 0 && b.len == 0);
  cJSON_Delete(r);
  tl_buf_free(&b);
}

TEST(header_carries_the_file_version) {
  tl_buf b;
  tl_buf_init(&b);
  size_t n = tl_tfevents_header(&b, 1.5);
  CHECK(n == b.len && n == 12 + 9 + 2 + 13 + 4);
  CHECK(memcmp(b.data + 12 + 9, "\x1a\x0d" "brain.Event:2", 15) == 0);
  CHECK(le32(b.data + n - 4) == tl_crc32c_mask(tl_crc32c(0, b.data + 12, n - 16)));
  tl_buf_free(&b);
}

static void collect(void *ud, long s) {
  tl_buf *b = ud;
  tl_buf_printf(b, "%ld,", s);
}

/* tl_tfevents_repair: a torn tail is cut, steps above max_step dropped, the rest kept. */
TEST(repair_cuts_a_torn_tail_and_steps_beyond_the_journal) {
  char path[] = "/tmp/tl-test-tfevents-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  tl_buf b, steps;
  tl_buf_init(&b), tl_buf_init(&steps);
  tl_tfevents_header(&b, 1.0);
  cJSON *r = cJSON_Parse("{\"loss\":0.5}");
  for (long s = 1; s <= 4; s++) tl_tfevents_encode(&b, r, s, 1.0 + (double)s);
  size_t whole = b.len;
  tl_buf_add(&b, "\x20\x00\x00", 3); /* the start of a record never finished */
  CHECK(tl_write_all(fd, b.data, b.len) == 0);
  close(fd);
  CHECK(tl_tfevents_repair(path, -1, collect, &steps) == 4);
  CHECK_STR(steps.data, "1,2,3,4,");
  size_t n;
  char *got = tl_read_file(path, &n);
  CHECK(got && n == whole && memcmp(got, b.data, n) == 0);
  free(got);
  /* steps 3 and 4 were never journaled: dropped, the header and steps 1, 2 kept as they were */
  tl_buf_reset(&steps);
  CHECK(tl_tfevents_repair(path, 2, collect, &steps) == 2);
  CHECK_STR(steps.data, "1,2,");
  got = tl_read_file(path, &n);
  tl_buf_reset(&b);
  tl_tfevents_header(&b, 1.0);
  for (long s = 1; s <= 2; s++) tl_tfevents_encode(&b, r, s, 1.0 + (double)s);
  CHECK(got && n == b.len && memcmp(got, b.data, n) == 0);
  free(got);
  CHECK(tl_tfevents_repair("/nonexistent/events", -1, NULL, NULL) == -1);
  unlink(path);
  cJSON_Delete(r);
  tl_buf_free(&b), tl_buf_free(&steps);
}
