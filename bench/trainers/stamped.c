/* stamped.c - B1's trainer with clock stamps, for bench/b1_phases.py: where a trial's cycle
 * goes, seen from the trainer. Config: pre_sleep (s). Reports once {"loss":1,"t_main":..,
 * "t_config":..,"t_slept":..} (CLOCK_REALTIME at main, once the config is in hand, after the
 * sleep: the journal's clock) and writes the time the decision came on stderr. */
#define TUNELUA_IMPLEMENTATION
#include "tunelua.h"

#include <stdio.h>
#include <time.h>

static double realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
  double t_main = realtime();
  double pre_sleep = tunelua_param_double("pre_sleep", 0);
  double t_config = realtime();
  struct timespec ts = {(time_t)pre_sleep, (long)((pre_sleep - (double)(time_t)pre_sleep) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
  double t_slept = realtime();
  int d = tunelua_reportf("{\"loss\":1,\"t_main\":%.6f,\"t_config\":%.6f,\"t_slept\":%.6f}", t_main,
                          t_config, t_slept);
  fprintf(stderr, "%.6f\n", realtime());
  if (d < 0) {
    fprintf(stderr, "stamped: %s\n", tunelua_error());
    return 1;
  }
  tunelua_done();
  return 0;
}
