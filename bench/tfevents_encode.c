/* tfevents_encode.c - the CPU cost of one result's TensorBoard record (bench/b3_tensorboard.py).
 *
 * Encodes the result the B3 reporter sends, with the fields the engine adds, N times into a
 * reused buffer (tl_tfevents_encode: flatten, protobuf, two CRC32C), and, as the peer measured
 * in the same run, prints the same result as result.jsonl's line (tl_json_print) N times.
 * Prints one JSON object: ns per result of each. Usage: tfevents_encode [N]. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tfevents.h"
#include "util.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 2000000;
  cJSON *r = cJSON_Parse("{\"loss\":0.123456789,\"step\":4242,\"trial_id\":\"00001\","
                         "\"training_iteration\":4242,\"time_this_iter_s\":1.2345e-05,"
                         "\"time_total_s\":0.0521,\"timestamp\":1795822805}");
  tl_buf b;
  tl_buf_init(&b);
  size_t bytes = 0;
  double t0 = now();
  for (long i = 0; i < n; i++) {
    tl_buf_reset(&b);
    bytes += tl_tfevents_encode(&b, r, i, 1795822805.0);
  }
  double enc = (now() - t0) / (double)n * 1e9;
  size_t chars = 0;
  t0 = now();
  for (long i = 0; i < n; i++) {
    char *s = tl_json_print(r);
    chars += strlen(s);
    free(s);
  }
  double json = (now() - t0) / (double)n * 1e9;
  printf("{\"encode_ns\":%.1f,\"record_bytes\":%zu,\"json_print_ns\":%.1f,\"json_chars\":%zu}\n",
         enc, bytes / (size_t)n, json, chars / (size_t)n);
  cJSON_Delete(r);
  tl_buf_free(&b);
  return 0;
}
