/* libFuzzer target: the dashboard's request-head parser (tl_dashboard_parse).
 *
 * Input: the bytes a client sends (up to TL_HTTP_MAX_HEAD). Checked, besides memory safety
 * (the input is copied into a block of exactly its size):
 *   - a token only ever turns an answer into 403, never anything else;
 *   - the server decides as soon as it can: once a prefix is classified (and not as too
 *     large), the whole input gets the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"

static const char token[] = "0123456789abcdef0123456789abcdef";

static tl_http_what parse(const uint8_t *data, size_t n, const char *tok) {
  char *buf = malloc(n ? n : 1);
  memcpy(buf, data, n);
  int head_only;
  tl_http_what w = tl_dashboard_parse(buf, n, tok, &head_only);
  free(buf);
  return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > TL_HTTP_MAX_HEAD) size = TL_HTTP_MAX_HEAD;
  tl_http_what open = parse(data, size, NULL), locked = parse(data, size, token);
  if (open != locked && locked != TL_HTTP_FORBIDDEN) abort();
  if (locked == TL_HTTP_FORBIDDEN && open != TL_HTTP_PAGE && open != TL_HTTP_DATA &&
      open != TL_HTTP_NOT_FOUND && open != TL_HTTP_FORBIDDEN)
    abort();
  for (size_t cut = 1; cut < size; cut += 1 + cut / 8) {
    tl_http_what w = parse(data, cut, NULL);
    if (w != TL_HTTP_INCOMPLETE && w != TL_HTTP_TOO_LARGE && w != open) abort();
  }
  return 0;
}
