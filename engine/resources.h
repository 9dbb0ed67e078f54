/* What the machine offers trials: CPUs from hwloc (GPUs arrive with the CUDA runtime work). */
#ifndef TL_RESOURCES_H
#define TL_RESOURCES_H

#include "engine.h"

/* Fills cpus_total, gpus_total and cpu_source, honouring --cpus/--gpus. */
int tl_resources_detect(tl_engine *e);

#endif
