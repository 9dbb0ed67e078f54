/* reporter.c - the C trainer of the benchmarks (bench/README in docs/performance.md).
 *
 * Config keys (all optional):
 *   pre_sleep  seconds to sleep before the first report          (default 0)
 *   reports    how many results to send, 0 = until `duration`   (default 1)
 *   rate       results per second, paced on an absolute schedule;
 *              0 = back to back                                  (default 0)
 *   duration   stop after this many seconds, 0 = no limit        (default 0)
 * Each result is {"loss":<float>,"step":<n>}. Exits 0 after done, or when the engine
 * answers anything but continue.
 */
#define TUNELUA_IMPLEMENTATION
#include "tunelua.h"

#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_until(double t) {
  double d = t - now();
  if (d <= 0) return;
  struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

int main(void) {
  double pre_sleep = tunelua_param_double("pre_sleep", 0);
  long reports = tunelua_param_int("reports", 1);
  double rate = tunelua_param_double("rate", 0);
  double duration = tunelua_param_double("duration", 0);
  double t0 = now();
  if (pre_sleep > 0) sleep_until(t0 + pre_sleep);
  double start = now();
  for (long i = 1; reports <= 0 || i <= reports; i++) {
    if (rate > 0) sleep_until(start + (double)(i - 1) / rate);
    if (duration > 0 && now() - start >= duration) break;
    int d = tunelua_reportf("{\"loss\":%.6f,\"step\":%ld}", 1.0 / (double)i, i);
    if (d != TUNELUA_CONTINUE) {
      if (d < 0) {
        fprintf(stderr, "reporter: %s\n", tunelua_error());
        return 1;
      }
      return 0;
    }
  }
  tunelua_done();
  return 0;
}
