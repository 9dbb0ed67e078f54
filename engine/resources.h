/* What the machine offers trials and where each trial runs: the hwloc topology (PUs, cores,
 * NUMA nodes, memory, PCI locality), GPUs from the CUDA runtime loaded with dlopen, custom
 * resources; per-trial placement (PUs, cards, memory, custom amounts) and its release. */
#ifndef TL_RESOURCES_H
#define TL_RESOURCES_H

#include "engine.h"

/* What one trial asks for (trainer.resources, evaluated on its config by the Lua side). */
typedef struct tl_request {
  double cpu, gpu, mem; /* CPUs (fractions share a PU), cards (< 1 shares one), bytes */
  int ncustom;
  char **names;         /* owned */
  double *amounts;      /* owned */
} tl_request;
void tl_request_free(tl_request *rq);

/* Where a running trial was placed (owned by its tl_trial, freed on release). */
typedef struct tl_alloc {
  double cpu, gpu, mem;
  int npu;
  int *pu;              /* indexes into the inventory's PUs */
  double *pu_share;     /* what it takes of each */
  int ncard;
  int *card;            /* indexes into the inventory's GPUs */
  double card_share;    /* of each of its cards: gpu (< 1) or 1 */
  double *custom;       /* per inventory custom resource, NULL when none */
  char *cpuset;         /* OS indexes of its PUs, "0-3,8" (what tunelua-bind and Cpus_allowed_list use) */
  char *cuda;           /* CUDA_VISIBLE_DEVICES for it: its cards' ids, "" for none */
  int threads;          /* OMP/MKL/OPENBLAS_NUM_THREADS: ceil(cpu), at least 1 */
} tl_alloc;

/* Builds the inventory (e->res) and fills cpus_total, gpus_total, cpu_source, honouring
 * --cpus, --gpus, --mem, --resource, the experiment's custom_resources, CUDA_VISIBLE_DEVICES
 * and TUNELUA_FAKE_GPUS. probe_gpus: 0 skips the CUDA runtime (no trial asks for a GPU). */
int tl_resources_detect(tl_engine *e, int probe_gpus);
void tl_resources_free(tl_engine *e);
/* Places a trial: 1 placed (t->alloc set, counts taken), 0 does not fit now, -1 can never
 * fit on this machine (*why, owned: what it asked and what exists). */
int tl_resources_place(tl_engine *e, tl_trial *t, const tl_request *rq, char **why);
/* Gives back what the trial held (t->alloc, or t->cpu when it has none). */
void tl_resources_release(tl_engine *e, tl_trial *t);
/* Frees a placement without giving anything back (the engine is going away). */
void tl_resources_alloc_free(tl_alloc *a);
/* Appends the trial's placement to a journal line: ,"resources":{...} */
void tl_resources_journal(tl_buf *b, const tl_trial *t);
/* Whether the trial's process is pinned to its PUs, through tunelua-bind (engine/bin/), and
 * that program's path beside the engine's binary (NULL when not binding). */
int tl_resources_binding(const tl_engine *e);
const char *tl_resources_binder(const tl_engine *e);

/* `tunelua resources [--json] [--cpus N] [--gpus N] [--mem SIZE] [--resource NAME=N]` */
int tl_resources_main(int argc, char **argv);
/* "4G", "512M", "1.5T", plain bytes: bytes, or -1. Powers of 1024. */
double tl_parse_size(const char *s);

/* What is in use now, for the console: GPU shares summed over the cards, memory in bytes. */
void tl_resources_usage(const tl_engine *e, double *gpus_used, double *mem_used, double *mem_total);

#endif
