#include "resources.h"

#include <hwloc.h>
#include <stdlib.h>
#include <unistd.h>

int tl_resources_detect(tl_engine *e) {
  hwloc_topology_t topo;
  int pus = 0, cores = 0, numa = 0;
  if (hwloc_topology_init(&topo) == 0) {
    if (hwloc_topology_load(topo) == 0) {
      pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
      cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
      numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    }
    hwloc_topology_destroy(topo);
  }
  if (pus > 0) {
    e->cpus_total = pus;
    e->cpu_source = tl_strfmt("hwloc: %d PUs, %d cores, %d NUMA nodes", pus, cores, numa);
  } else {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    e->cpus_total = n > 0 ? (double)n : 1;
    e->cpu_source = tl_strdup("sysconf (hwloc found nothing)");
  }
  if (e->simulate && e->opt.cpus <= 0) {
    free(e->cpu_source);
    e->cpu_source = tl_strdup("simulate: 8 virtual CPUs (--cpus N to change)");
    e->cpus_total = 8;
  }
  if (e->opt.cpus > 0) {
    free(e->cpu_source);
    e->cpu_source = tl_strfmt("--cpus; hwloc saw %d PUs", pus);
    e->cpus_total = e->opt.cpus;
  }
  e->gpus_total = e->opt.gpus >= 0 ? e->opt.gpus : 0;
  return 0;
}
