/* The dashboard's request-head parser: what each request gets, byte by byte arrival, and
 * that no input (random bytes, cut anywhere) reads past its length or crashes. */
#include "dashboard.h"
#include "test.h"

static tl_http_what parse(const char *s, const char *token) {
  int head_only;
  return tl_dashboard_parse(s, strlen(s), token, &head_only);
}

TEST(routes) {
  CHECK(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n", NULL) == TL_HTTP_PAGE);
  CHECK(parse("GET /index.html HTTP/1.0\r\n\r\n", NULL) == TL_HTTP_PAGE);
  CHECK(parse("GET /data.json HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_DATA);
  CHECK(parse("GET /data.json?x=1 HTTP/1.1\n\n", NULL) == TL_HTTP_DATA);
  CHECK(parse("GET /data.jsonx HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_NOT_FOUND);
  CHECK(parse("GET /../etc/passwd HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_NOT_FOUND);
  CHECK(parse("POST / HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_METHOD);
  CHECK(parse("DELETE /data.json HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_METHOD);
  int head_only = 0;
  const char *h = "HEAD / HTTP/1.1\r\n\r\n";
  CHECK(tl_dashboard_parse(h, strlen(h), NULL, &head_only) == TL_HTTP_PAGE);
  CHECK(head_only == 1);
}

TEST(malformed) {
  CHECK(parse("GET /\r\n\r\n", NULL) == TL_HTTP_BAD);             /* HTTP/0.9 */
  CHECK(parse("GET / HTTP/2.0\r\n\r\n", NULL) == TL_HTTP_BAD);
  CHECK(parse("get / HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_BAD);
  CHECK(parse("GET http://x/ HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_BAD);
  CHECK(parse("GET  / HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_BAD);
  CHECK(parse("\r\n\r\n", NULL) == TL_HTTP_BAD);
  CHECK(parse("GET /a\x01 HTTP/1.1\r\n\r\n", NULL) == TL_HTTP_BAD);
  /* a bad request line is answered at once, before the head is complete */
  CHECK(parse("\x16\x03\x01 TLS hello\n", NULL) == TL_HTTP_BAD);
}

TEST(incomplete_and_too_large) {
  const char *full = "GET /data.json HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t n = strlen(full);
  int head_only;
  for (size_t i = 0; i < n; i++) /* every cut before the end asks for more */
    CHECK(tl_dashboard_parse(full, i, NULL, &head_only) == TL_HTTP_INCOMPLETE);
  CHECK(tl_dashboard_parse(full, n, NULL, &head_only) == TL_HTTP_DATA);
  static char big[TL_HTTP_MAX_HEAD];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  CHECK(tl_dashboard_parse(big, sizeof big, NULL, &head_only) == TL_HTTP_TOO_LARGE);
  CHECK(tl_dashboard_parse(big + 19, sizeof big - 19, NULL, &head_only) == TL_HTTP_INCOMPLETE);
  memset(big, 'G', sizeof big); /* no line end at all */
  CHECK(tl_dashboard_parse(big, sizeof big, NULL, &head_only) == TL_HTTP_TOO_LARGE);
}

TEST(token) {
  const char *tok = "0123456789abcdef0123456789abcdef";
  CHECK(parse("GET / HTTP/1.1\r\n\r\n", tok) == TL_HTTP_FORBIDDEN);
  CHECK(parse("GET /?token=0123 HTTP/1.1\r\n\r\n", tok) == TL_HTTP_FORBIDDEN);
  CHECK(parse("GET /?token=0123456789abcdef0123456789abcdeff HTTP/1.1\r\n\r\n", tok) == TL_HTTP_FORBIDDEN);
  CHECK(parse("GET /?xtoken=0123456789abcdef0123456789abcdef HTTP/1.1\r\n\r\n", tok) == TL_HTTP_FORBIDDEN);
  CHECK(parse("GET /?token=0123456789abcdef0123456789abcdef HTTP/1.1\r\n\r\n", tok) == TL_HTTP_PAGE);
  CHECK(parse("GET /data.json?a=b&token=0123456789abcdef0123456789abcdef HTTP/1.1\r\n\r\n", tok) ==
        TL_HTTP_DATA);
  CHECK(parse("GET /nope?token=0123456789abcdef0123456789abcdef HTTP/1.1\r\n\r\n", tok) ==
        TL_HTTP_NOT_FOUND);
  /* without the token, nothing says which paths exist */
  CHECK(parse("GET /nope HTTP/1.1\r\n\r\n", tok) == TL_HTTP_FORBIDDEN);
}

/* Random heads, cut at every length, in a heap block of exactly that size: with ASan
 * (make test-asan) a read past the end is a failure. */
TEST(random_bytes) {
  unsigned x = 12345;
  static const char alphabet[] = "GET /data.json?token=HTTP/1.1\r\n \x00\xff";
  for (int round = 0; round < 3000; round++) {
    size_t n = (size_t)(x % 64);
    char *buf = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
      x = x * 1103515245u + 12345u;
      buf[i] = alphabet[(x >> 16) % (sizeof alphabet - 1)];
    }
    x = x * 1103515245u + 12345u;
    int head_only;
    tl_http_what w = tl_dashboard_parse(buf, n, round % 2 ? "ab" : NULL, &head_only);
    free(buf);
    CHECK(w >= TL_HTTP_INCOMPLETE && w <= TL_HTTP_FORBIDDEN);
  }
}
