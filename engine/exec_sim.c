#include "exec_sim.h"

#include <stdlib.h>
#include <string.h>

#include "resources.h"
#include "script.h"
#include "swap.h"
#include "trial.h"

typedef struct {
  double time;
  unsigned long seq; /* ties at one instant go in the order they were scheduled */
  int index;
} sim_event;

typedef struct tl_sim {
  sim_event *heap;
  int n, cap;
  unsigned long seq;
  uv_idle_t idle;
} tl_sim;

static int earlier(const sim_event *a, const sim_event *b) {
  return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void push(tl_sim *s, double time, int index) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->heap = tl_xrealloc(s->heap, (size_t)s->cap * sizeof *s->heap);
  }
  sim_event ev = {time, s->seq++, index};
  int i = s->n++;
  while (i > 0 && earlier(&ev, &s->heap[(i - 1) / 2])) {
    s->heap[i] = s->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  s->heap[i] = ev;
}

static sim_event pop(tl_sim *s) {
  sim_event top = s->heap[0], last = s->heap[--s->n];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= s->n) break;
    if (c + 1 < s->n && earlier(&s->heap[c + 1], &s->heap[c])) c++;
    if (!earlier(&s->heap[c], &last)) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (s->n > 0) s->heap[i] = last;
  return top;
}

/* Ends every running simulated trial as PAUSED (interrupt, Lua error). */
static void pause_all(tl_engine *e) {
  for (int i = 0; i < e->ntrials; i++) {
    tl_trial *t = e->trials[i];
    if (t->status != TL_RUNNING) continue;
    t->ask = TL_ASK_PAUSE;
    tl_trial_finish(e, t);
  }
  e->sim->n = 0;
}

/* One result of one trial: the earliest due. */
static void step(tl_engine *e, sim_event ev) {
  tl_trial *t = e->trials[ev.index];
  if (t->status != TL_RUNNING) return;
  /* the event's own instant: after a resume, a trial that was mid-iteration may be due
   * slightly before the last journaled result of another; its own times stay exact */
  e->vclock = ev.time;
  cJSON *r = NULL;
  double cost = 0;
  int done = 0;
  char *err = NULL;
  if (tl_script_simulate(e->script, t->index, &r, &cost, &done, &err) != 0) {
    free(t->fail);
    t->fail = tl_strfmt("trainer.simulate failed: %s", err);
    free(err);
    tl_trial_finish(e, t);
    return;
  }
  int checkpoint;
  const char *action = tl_trial_report(e, t, r, &checkpoint);
  if (t->ask != TL_ASK_NONE || done) {
    tl_trial_finish(e, t); /* stop, pause, or a trainer that ended by itself */
  } else {
    (void)action; /* continue, or reset in place after an exploit */
    push(e->sim, e->vclock + cost, t->index);
  }
  tl_swap_after_result(e);
}

static void on_idle(uv_idle_t *h) {
  tl_engine *e = h->data;
  tl_sim *s = e->sim;
  if (e->interrupted || e->script_failed || e->journal.failed) {
    pause_all(e);
    uv_idle_stop(h);
    tl_engine_kick(e);
    return;
  }
  /* a batch per loop turn, so signals and the console still get their turn; its journal
   * lines are written together at the end of the turn */
  tl_journal_hold(&e->journal);
  for (int k = 0; k < 1024 && s->n > 0 && !e->finished; k++) {
    int before = e->running;
    step(e, pop(s));
    if (e->running < before) tl_engine_schedule(e); /* a slot freed at this instant */
  }
  tl_journal_release(&e->journal);
  if (s->n == 0) {
    uv_idle_stop(h);
    tl_engine_kick(e);
  }
}

int tl_sim_init(tl_engine *e) {
  e->sim = tl_xcalloc(1, sizeof *e->sim);
  uv_idle_init(e->loop, &e->sim->idle);
  e->sim->idle.data = e;
  return 0;
}

int tl_sim_start(tl_engine *e, tl_trial *t, char **err) {
  double cost;
  if (tl_script_sim_start(e->script, t->index, &cost, err) != 0) return -1;
  push(e->sim, e->vclock + cost, t->index);
  if (!uv_is_active((uv_handle_t *)&e->sim->idle)) uv_idle_start(&e->sim->idle, on_idle);
  return 0;
}

void tl_sim_resume(tl_engine *e, tl_trial *t) {
  double cost = 0;
  char *err = NULL;
  if (tl_script_sim_start(e->script, t->index, &cost, &err) != 0) {
    tl_engine_script_error(e, err);
    return;
  }
  /* it held resources when the engine stopped: it takes them again (counted even if they
   * no longer fit, so that nothing starts beside it until it ends) */
  tl_request rq;
  char *why = NULL;
  if (tl_script_resources(e->script, t->index, &rq, &why) != 0 ||
      tl_resources_place(e, t, &rq, &why) <= 0) {
    t->cpu = rq.cpu > 0 ? rq.cpu : e->cpu_per_trial;
    e->cpus_used += t->cpu;
  }
  free(why);
  tl_request_free(&rq);
  e->running++;
  t->last_report = t->vt;
  push(e->sim, t->vt + cost, t->index);
  if (!uv_is_active((uv_handle_t *)&e->sim->idle)) uv_idle_start(&e->sim->idle, on_idle);
}

static void on_close(uv_handle_t *h) { (void)h; }

void tl_sim_close(tl_engine *e) {
  if (!e->sim) return;
  uv_idle_stop(&e->sim->idle);
  uv_close((uv_handle_t *)&e->sim->idle, on_close);
}

void tl_sim_free(tl_engine *e) {
  if (!e->sim) return;
  free(e->sim->heap);
  free(e->sim);
  e->sim = NULL;
}
