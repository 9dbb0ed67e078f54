/* A small deterministic trainer in C: gradient descent with momentum on the quadratic
 * f(x) = 1/2 sum_i a_i (x_i - b_i)^2, whose minimum is 0. Config: lr, momentum, steps.
 * Reports loss and step each step, checkpoints its state (state.txt) when the engine
 * asks, and restores from it. Build and run through examples/c_trainer.lua, or by hand:
 *
 *   cc -O2 -Itrainers/c -o /tmp/c_trainer examples/c_trainer.c
 *   TUNELUA_PARAMS='{"lr":0.1,"momentum":0.9,"steps":5}' /tmp/c_trainer
 */
#define TUNELUA_IMPLEMENTATION
#include "tunelua.h"

#include <stdio.h>
#include <stdlib.h>

#define DIM 4
static const double A[DIM] = {1.0, 2.0, 4.0, 8.0}, B[DIM] = {1.0, -2.0, 3.0, -0.5};

typedef struct {
  long step;
  double x[DIM], v[DIM];
} state;

static double loss(const state *s) {
  double f = 0;
  for (int i = 0; i < DIM; i++) f += 0.5 * A[i] * (s->x[i] - B[i]) * (s->x[i] - B[i]);
  return f;
}

/* Writes the state as text (exact doubles with %a) into dir/state.txt. */
static int save(const state *s, const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/state.txt", dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "%ld\n", s->step);
  for (int i = 0; i < DIM; i++) fprintf(f, "%a %a\n", s->x[i], s->v[i]);
  return fclose(f);
}

static int load(state *s, const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/state.txt", dir);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int ok = fscanf(f, "%ld", &s->step) == 1;
  for (int i = 0; i < DIM && ok; i++) ok = fscanf(f, "%la %la", &s->x[i], &s->v[i]) == 2;
  fclose(f);
  return ok ? 0 : -1;
}

static void checkpoint(const state *s) {
  const char *d = tunelua_checkpoint_dir();
  if (!d || save(s, d) != 0 || !tunelua_record_checkpoint(d)) {
    fprintf(stderr, "c_trainer: checkpoint failed: %s\n", tunelua_error());
    exit(1);
  }
}

int main(void) {
  if (!tunelua_params_json()) {
    fprintf(stderr, "c_trainer: %s\n", tunelua_error());
    return 1;
  }
  double lr = tunelua_param_double("lr", 0.05), mom = tunelua_param_double("momentum", 0.0);
  long steps = tunelua_param_int("steps", 30);
  state s = {0, {0}, {0}};
  const char *restore = tunelua_restore_dir();
  if (restore) {
    if (load(&s, restore) != 0) {
      fprintf(stderr, "c_trainer: cannot restore from %s\n", restore);
      tunelua_fail("cannot restore the checkpoint");
      return 1;
    }
    printf("c_trainer: restored step %ld from %s\n", s.step, restore);
  }
  while (s.step < steps) {
    for (int i = 0; i < DIM; i++) {
      double g = A[i] * (s.x[i] - B[i]);
      s.v[i] = mom * s.v[i] - lr * g;
      s.x[i] += s.v[i];
    }
    s.step++;
    tunelua_metric_double("loss", loss(&s));
    tunelua_metric_int("step", s.step);
    tunelua_metric_string("trainer", "c");
    int action = tunelua_report_metrics();
    if (action < 0) {
      fprintf(stderr, "c_trainer: %s\n", tunelua_error());
      return 1;
    }
    if (tunelua_should_checkpoint()) checkpoint(&s);
    if (action != TUNELUA_CONTINUE) return 0; /* stop or pause: exit 0 */
  }
  tunelua_done();
  return 0;
}
