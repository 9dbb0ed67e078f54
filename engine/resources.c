#include "resources.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <hwloc.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EPS 1e-9

/* One processing unit trials may use. */
typedef struct {
  int os;       /* OS index: what sched_setaffinity and Cpus_allowed_list speak */
  int core;     /* logical index of its core, -1 unknown */
  int numa;     /* OS index of its NUMA node, -1 unknown */
  double cap;   /* CPUs it gives: 1, more under an oversubscribing --cpus, less for the last
                 * PU of a fractional --cpus */
  double used;
} tl_pu;

typedef struct {
  char *id;     /* the CUDA_VISIBLE_DEVICES entry a trial gets for this card */
  char *name, *uuid, *pci;
  double mem;   /* bytes, 0 unknown */
  hwloc_bitmap_t cpuset; /* PUs near it (OS indexes), NULL unknown */
  char *numa;   /* NUMA nodes near it ("0", "0-1"), NULL unknown */
  double used;  /* share in use, 0..1 */
} tl_gpu;

typedef struct {
  char *name;
  double total, used;
  const char *from; /* "experiment" or "--resource" */
} tl_custom;

struct tl_res {
  hwloc_topology_t topo; /* kept for the run; NULL when hwloc failed */
  int pus_seen, cores_seen, numa_seen;
  tl_pu *pus;
  int npus;
  double cpus;  /* what trials may use in all */
  int bind;
  char *bind_note;
  char *binder;         /* tunelua-bind beside the engine's binary, while bind (owned) */
  double mem_total, mem_used;
  char *mem_source;
  tl_gpu *gpus;
  int ngpus;
  char *gpu_source;
  tl_custom *custom;
  int ncustom;
  int simulate;
};

static tl_engine *the_engine; /* for tl_ffi_resources_fits; one engine per process */

void tl_request_free(tl_request *rq) {
  for (int i = 0; i < rq->ncustom; i++) free(rq->names[i]);
  free(rq->names), free(rq->amounts);
  rq->names = NULL, rq->amounts = NULL, rq->ncustom = 0;
}

double tl_parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !(v >= 0) || !isfinite(v)) return -1;
  while (*end == ' ') end++;
  static const char units[] = "KMGTPE";
  const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
  if (u) {
    v *= pow(1024, (double)(u - units + 1));
    end++;
    if (*end == 'i') end++;
  }
  if (*end == 'B' || *end == 'b') end++;
  return *end ? -1 : v;
}

/* "7.6 GiB" */
static char *fmt_size(double b) {
  static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int i = 0;
  while (b >= 1024 && i < 6) b /= 1024, i++;
  return i == 0 ? tl_strfmt("%.0f B", b) : tl_strfmt("%.3g %s", b, u[i]);
}

static char *list_of(hwloc_const_bitmap_t set) {
  char *s = NULL;
  if (hwloc_bitmap_list_asprintf(&s, set) < 0 || !s) return tl_strdup("");
  char *out = tl_strdup(s);
  free(s);
  return out;
}

/* ---- inventory ---- */

/* The PUs of the topology that this process may run on, in an order that spreads over cores
 * first (the first PU of every core, then the second ...), so that --cpus N below the count
 * picks one PU per core. */
static int usable_pus(struct tl_res *r, int **os_out, int **core_out, int **numa_out) {
  hwloc_topology_t t = r->topo;
  int n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
  hwloc_bitmap_t mine = hwloc_bitmap_alloc();
  int have_bind = hwloc_get_cpubind(t, mine, HWLOC_CPUBIND_PROCESS) == 0 && !hwloc_bitmap_iszero(mine);
  int *os = tl_xcalloc((size_t)n + 1, sizeof *os), *core = tl_xcalloc((size_t)n + 1, sizeof *core);
  int *numa = tl_xcalloc((size_t)n + 1, sizeof *numa), *rank = tl_xcalloc((size_t)n + 1, sizeof *rank);
  int m = 0;
  for (int i = 0; i < n; i++) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(t, HWLOC_OBJ_PU, (unsigned)i);
    if (have_bind && !hwloc_bitmap_isset(mine, pu->os_index)) continue;
    hwloc_obj_t c = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_CORE, pu);
    os[m] = (int)pu->os_index;
    core[m] = c ? (int)c->logical_index : -1;
    numa[m] = -1;
    if (pu->nodeset && hwloc_bitmap_weight(pu->nodeset) == 1) numa[m] = hwloc_bitmap_first(pu->nodeset);
    /* the PU's position among its core's siblings */
    rank[m] = 0;
    for (int j = 0; j < m; j++) rank[m] += core[j] == core[m] && core[m] >= 0;
    m++;
  }
  hwloc_bitmap_free(mine);
  /* stable order by (rank, logical) */
  for (int i = 1; i < m; i++)
    for (int j = i; j > 0 && rank[j - 1] > rank[j]; j--) {
      int x;
      x = rank[j], rank[j] = rank[j - 1], rank[j - 1] = x;
      x = os[j], os[j] = os[j - 1], os[j - 1] = x;
      x = core[j], core[j] = core[j - 1], core[j - 1] = x;
      x = numa[j], numa[j] = numa[j - 1], numa[j - 1] = x;
    }
  free(rank);
  *os_out = os, *core_out = core, *numa_out = numa;
  return m;
}

/* CPUs: the PUs trials may use and what each gives (see tl_pu.cap), e->cpus_total, cpu_source. */
static void inventory_cpus(tl_engine *e, struct tl_res *r) {
  int *os = NULL, *core = NULL, *numa = NULL, m = 0;
  if (r->topo) m = usable_pus(r, &os, &core, &numa);
  const char *how = "hwloc";
  if (m == 0) { /* no topology: sysconf's count, as if each were its own core */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    m = n > 0 ? (int)n : 1;
    os = tl_xcalloc((size_t)m, sizeof *os), core = tl_xcalloc((size_t)m, sizeof *core);
    numa = tl_xcalloc((size_t)m, sizeof *numa);
    for (int i = 0; i < m; i++) os[i] = core[i] = i, numa[i] = -1;
    how = "sysconf (hwloc found nothing)";
    r->bind = 0;
    r->bind_note = tl_strdup("off: no hwloc topology");
  }
  double want = m;
  if (r->simulate) {
    /* simulated trials are not processes: virtual CPUs, one PU each */
    want = e->opt.cpus > 0 ? e->opt.cpus : 8;
    free(os), free(core), free(numa);
    m = (int)ceil(want);
    os = tl_xcalloc((size_t)m, sizeof *os), core = tl_xcalloc((size_t)m, sizeof *core);
    numa = tl_xcalloc((size_t)m, sizeof *numa);
    for (int i = 0; i < m; i++) os[i] = core[i] = i, numa[i] = -1;
  } else if (e->opt.cpus > 0) {
    want = e->opt.cpus;
  }
  int use = want < m ? (int)ceil(want - EPS) : m;
  if (use < 1) use = 1;
  r->npus = use;
  r->pus = tl_xcalloc((size_t)use, sizeof *r->pus);
  for (int i = 0; i < use; i++) {
    r->pus[i].os = os[i], r->pus[i].core = core[i], r->pus[i].numa = numa[i];
    if (want <= m) r->pus[i].cap = i + 1 <= want + EPS ? 1 : want - i; /* fractional last */
    else r->pus[i].cap = want / m; /* more CPUs than PUs: each PU shared */
  }
  /* PUs in OS order: placements and cpusets read naturally */
  for (int i = 1; i < use; i++)
    for (int j = i; j > 0 && r->pus[j - 1].os > r->pus[j].os; j--) {
      tl_pu x = r->pus[j];
      r->pus[j] = r->pus[j - 1], r->pus[j - 1] = x;
    }
  r->cpus = want;
  e->cpus_total = want;
  free(e->cpu_source);
  if (r->simulate)
    e->cpu_source = e->opt.cpus > 0 ? tl_strfmt("simulate: %g virtual CPUs (--cpus)", want)
                                    : tl_strdup("simulate: 8 virtual CPUs (--cpus N to change)");
  else if (e->opt.cpus > 0)
    e->cpu_source = tl_strfmt("--cpus; %s saw %d PUs, %d cores, %d NUMA nodes", how, r->pus_seen,
                              r->cores_seen, r->numa_seen);
  else if (r->topo && r->pus_seen > m)
    e->cpu_source = tl_strfmt("%s: %d of %d PUs (this process's affinity), %d cores, %d NUMA nodes",
                              how, m, r->pus_seen, r->cores_seen, r->numa_seen);
  else if (r->topo)
    e->cpu_source = tl_strfmt("%s: %d PUs, %d cores, %d NUMA nodes", how, m, r->cores_seen, r->numa_seen);
  else
    e->cpu_source = tl_strdup(how);
  free(os), free(core), free(numa);
}

static void inventory_mem(tl_engine *e, struct tl_res *r) {
  double total = 0;
  if (r->topo) total = (double)hwloc_get_root_obj(r->topo)->total_memory;
  const char *src = "hwloc";
  if (total <= 0) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    total = pages > 0 && size > 0 ? (double)pages * (double)size : 0;
    src = "sysconf";
  }
  char *human = fmt_size(total);
  r->mem_source = tl_strfmt("%s: %s", src, human);
  free(human);
  /* a container's limit (cgroup v2) is what trials can really have */
  size_t n;
  char *lim = tl_read_file("/sys/fs/cgroup/memory.max", &n);
  if (lim) {
    double v = strtod(lim, NULL);
    if (isdigit((unsigned char)lim[0]) && v > 0 && v < total) {
      char *h = fmt_size(v), *old = r->mem_source;
      r->mem_source = tl_strfmt("%s; cgroup memory.max %s", old, h);
      free(h), free(old);
      total = v;
    }
    free(lim);
  }
  if (e->opt.mem > 0) {
    char *old = r->mem_source;
    r->mem_source = tl_strfmt("--mem; %s", old);
    free(old);
    total = e->opt.mem;
  }
  r->mem_total = total;
}

/* The cpuset (OS indexes) of NUMA node os, or NULL. */
static hwloc_bitmap_t numa_cpuset(struct tl_res *r, int os) {
  if (!r->topo) return NULL;
  hwloc_obj_t n = hwloc_get_numanode_obj_by_os_index(r->topo, (unsigned)os);
  return n && n->cpuset ? hwloc_bitmap_dup(n->cpuset) : NULL;
}

/* A card's locality from its PCI bus id: hwloc's PCI object and its first non-I/O ancestor,
 * else the kernel's local_cpulist for the device. */
static void locality(struct tl_res *r, tl_gpu *g) {
  if (!g->pci) return;
  char low[64];
  snprintf(low, sizeof low, "%s", g->pci);
  for (char *p = low; *p; p++) *p = (char)tolower((unsigned char)*p);
  hwloc_obj_t pci = r->topo ? hwloc_get_pcidev_by_busidstring(r->topo, low) : NULL;
  hwloc_obj_t anc = pci ? hwloc_get_non_io_ancestor_obj(r->topo, pci) : NULL;
  if (anc && anc->cpuset) {
    g->cpuset = hwloc_bitmap_dup(anc->cpuset);
    if (anc->nodeset && !hwloc_bitmap_iszero(anc->nodeset)) g->numa = list_of(anc->nodeset);
    return;
  }
  char *path = tl_strfmt("/sys/bus/pci/devices/%s/local_cpulist", low);
  size_t n;
  char *s = tl_read_file(path, &n);
  free(path);
  if (s) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (hwloc_bitmap_list_sscanf(set, s) == 0 && !hwloc_bitmap_iszero(set)) g->cpuset = set;
    else hwloc_bitmap_free(set);
    free(s);
  }
}

/* The CUDA runtime's device properties are read into a large zeroed buffer: what we use sits
 * at fixed offsets of cudaDeviceProp on 64-bit Linux since CUDA 10: name[256] at 0,
 * cudaUUID_t uuid (16 bytes) at 256, luid[8] at 272, luidDeviceNodeMask at 280, size_t
 * totalGlobalMem at 288 (before CUDA 10, totalGlobalMem follows name at 256 and there is no
 * uuid). The total memory is taken from the driver's documented cuDeviceTotalMem_v2 when
 * libcuda is there (it always is beside a working runtime), the struct offset only as a
 * fallback and only when it reads as a plausible size. */
typedef int (*cu_int_fn)(int *);
typedef int (*cu_busid_fn)(char *, int, int);
typedef int (*cu_props_fn)(void *, int);
typedef const char *(*cu_errstr_fn)(int);
typedef int (*drv_init_fn)(unsigned);
typedef int (*drv_bybus_fn)(int *, const char *);
typedef int (*drv_mem_fn)(size_t *, int);

static void *open_cudart(char **which, char **tried) {
  static const char *names[] = {"libcudart.so", "libcudart.so.13", "libcudart.so.12",
                                "libcudart.so.11.0", "libcudart.so.10.2", "libcudart.so.10.1",
                                "libcudart.so.10.0", "/usr/local/cuda/lib64/libcudart.so", NULL};
  tl_buf b;
  tl_buf_init(&b);
  const char *own = getenv("TUNELUA_CUDART");
  void *h = NULL;
  if (own && *own) {
    h = dlopen(own, RTLD_NOW | RTLD_LOCAL);
    if (h) *which = tl_strdup(own);
    tl_buf_printf(&b, "%s (TUNELUA_CUDART)", own);
  }
  for (int i = 0; !h && names[i]; i++) {
    h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (h) *which = tl_strdup(names[i]);
    tl_buf_printf(&b, "%s%s", b.len ? ", " : "", names[i]);
  }
  *tried = tl_strdup(b.data ? b.data : "");
  tl_buf_free(&b);
  return h;
}

static void probe_cuda(struct tl_res *r, tl_gpu **out, int *nout) {
  char *which = NULL, *tried = NULL;
  void *h = open_cudart(&which, &tried);
  if (!h) {
    r->gpu_source = tl_strfmt("no CUDA runtime (dlopen %s: not found; TUNELUA_CUDART=PATH names "
                              "one)", tried);
    free(tried);
    return;
  }
  free(tried);
  cu_int_fn version = (cu_int_fn)dlsym(h, "cudaRuntimeGetVersion");
  cu_int_fn count = (cu_int_fn)dlsym(h, "cudaGetDeviceCount");
  cu_busid_fn busid = (cu_busid_fn)dlsym(h, "cudaDeviceGetPCIBusId");
  cu_props_fn props = (cu_props_fn)dlsym(h, "cudaGetDeviceProperties_v2"); /* CUDA >= 12 */
  if (!props) props = (cu_props_fn)dlsym(h, "cudaGetDeviceProperties");
  cu_errstr_fn errstr = (cu_errstr_fn)dlsym(h, "cudaGetErrorString");
  if (!version || !count || !busid || !props) {
    r->gpu_source = tl_strfmt("%s lacks cudaGetDeviceCount/cudaDeviceGetPCIBusId/"
                              "cudaGetDeviceProperties", which);
    free(which);
    dlclose(h);
    return;
  }
  int ver = 0, n = 0;
  version(&ver);
  int rc = count(&n);
  char verstr[32];
  snprintf(verstr, sizeof verstr, "%d.%d", ver / 1000, (ver % 1000) / 10);
  if (rc != 0 || n <= 0) {
    r->gpu_source = tl_strfmt("CUDA runtime %s (%s): cudaGetDeviceCount: %s (error %d)", verstr,
                              which, rc == 0 ? "no device" : errstr ? errstr(rc) : "failed", rc);
    free(which);
    dlclose(h);
    return;
  }
  /* the driver, for the documented total memory */
  void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  drv_init_fn cu_init = drv ? (drv_init_fn)dlsym(drv, "cuInit") : NULL;
  drv_bybus_fn cu_bybus = drv ? (drv_bybus_fn)dlsym(drv, "cuDeviceGetByPCIBusId") : NULL;
  drv_mem_fn cu_mem = drv ? (drv_mem_fn)dlsym(drv, "cuDeviceTotalMem_v2") : NULL;
  int drv_ok = cu_init && cu_bybus && cu_mem && cu_init(0) == 0;
  int mem_from_struct = 0;
  tl_gpu *g = tl_xcalloc((size_t)n, sizeof *g);
  unsigned char *buf = tl_xcalloc(1, 16384); /* cudaDeviceProp is ~1 KiB; room to spare */
  for (int i = 0; i < n; i++) {
    char bus[64] = {0};
    if (busid(bus, (int)sizeof bus - 1, i) == 0 && bus[0]) g[i].pci = tl_strdup(bus);
    memset(buf, 0, 16384);
    if (props(buf, i) == 0) {
      g[i].name = tl_strfmt("%.255s", (const char *)buf);
      if (ver >= 10000) {
        const unsigned char *u = buf + 256;
        int zero = 1;
        for (int k = 0; k < 16; k++) zero &= u[k] == 0;
        if (!zero)
          g[i].uuid = tl_strfmt("GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                                u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
                                u[11], u[12], u[13], u[14], u[15]);
      }
    }
    size_t bytes = 0;
    int dev;
    if (drv_ok && g[i].pci && cu_bybus(&dev, g[i].pci) == 0 && cu_mem(&bytes, dev) == 0) {
      g[i].mem = (double)bytes;
    } else {
      uint64_t v;
      memcpy(&v, buf + (ver >= 10000 ? 288 : 256), sizeof v);
      /* plausible: 64 MiB .. 64 TiB */
      if (v >= (64ull << 20) && v <= (64ull << 40)) g[i].mem = (double)v, mem_from_struct = 1;
    }
    if (!g[i].name) g[i].name = tl_strdup("CUDA device");
    locality(r, &g[i]);
  }
  free(buf);
  if (drv) dlclose(drv);
  *out = g, *nout = n;
  r->gpu_source = tl_strfmt("CUDA runtime %s (%s)%s", verstr, which,
                            mem_from_struct ? "; memory from cudaDeviceProp" : "");
  free(which);
  /* the runtime stays loaded: unloading it after initialisation is not supported */
}

static void fake_gpus(struct tl_res *r, int n, tl_gpu **out, int *nout) {
  tl_gpu *g = tl_xcalloc((size_t)n, sizeof *g);
  const char *numa = getenv("TUNELUA_FAKE_GPU_NUMA");
  const char *cpus = getenv("TUNELUA_FAKE_GPU_CPUS");
  for (int i = 0; i < n; i++) {
    g[i].name = tl_strfmt("fake GPU %d", i);
    g[i].mem = 16.0 * (1 << 30);
    if (numa && *numa) { /* "0,0,1,1": card i is near NUMA node k (its PUs) */
      const char *p = numa;
      for (int k = 0; k < i && p; k++) p = strchr(p, ','), p = p ? p + 1 : NULL;
      if (p && isdigit((unsigned char)*p)) {
        int node = atoi(p);
        g[i].cpuset = numa_cpuset(r, node);
        if (g[i].cpuset) g[i].numa = tl_strfmt("%d", node);
      }
    } else if (cpus && *cpus) { /* "0;1" or "0-3;4-7": card i is near these PUs */
      const char *p = cpus;
      for (int k = 0; k < i && p; k++) p = strchr(p, ';'), p = p ? p + 1 : NULL;
      if (p && *p && *p != ';') {
        const char *end = strchr(p, ';');
        char *one = tl_strfmt("%.*s", end ? (int)(end - p) : (int)strlen(p), p);
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (hwloc_bitmap_list_sscanf(set, one) == 0 && !hwloc_bitmap_iszero(set)) g[i].cpuset = set;
        else hwloc_bitmap_free(set);
        free(one);
      }
    }
  }
  *out = g, *nout = n;
  r->gpu_source = tl_strfmt("TUNELUA_FAKE_GPUS=%d (test override: no real card)%s", n,
                            numa && *numa ? "; TUNELUA_FAKE_GPU_NUMA" : cpus && *cpus ? "; TUNELUA_FAKE_GPU_CPUS" : "");
}

static void gpu_free(tl_gpu *g) {
  free(g->id), free(g->name), free(g->uuid), free(g->pci), free(g->numa);
  if (g->cpuset) hwloc_bitmap_free(g->cpuset);
}

/* TUNELUA_FAKE_GPUS when it is set and not empty (a test's stand-in cards), else NULL. */
static const char *fake_gpus_env(void) {
  const char *fake = getenv("TUNELUA_FAKE_GPUS");
  return fake && *fake ? fake : NULL;
}

/* GPUs: found (CUDA runtime, or TUNELUA_FAKE_GPUS), narrowed by the engine's own
 * CUDA_VISIBLE_DEVICES (the runtime itself only sees those: device i is its entry i, which is
 * what a trial gets) and by --gpus. */
static void inventory_gpus(tl_engine *e, struct tl_res *r, int probe) {
  tl_gpu *g = NULL;
  int n = 0;
  const char *fake = fake_gpus_env();
  const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
  int cvd_empty = cvd && strspn(cvd, " \t") == strlen(cvd);
  if (fake) {
    n = atoi(fake) > 0 ? atoi(fake) : 0;
    fake_gpus(r, n, &g, &n);
  } else if (e->opt.gpus == 0) {
    r->gpu_source = tl_strdup("--gpus 0");
  } else if (cvd_empty) {
    r->gpu_source = tl_strdup("CUDA_VISIBLE_DEVICES is empty: no GPU for this process");
  } else if (!probe && e->opt.gpus < 0) {
    r->gpu_source = tl_strdup("not probed: no trial asks for a GPU");
  } else if (r->simulate) {
    r->gpu_source = tl_strdup("simulate: no GPU unless --gpus N");
  } else {
    probe_cuda(r, &g, &n);
  }
  /* the ids trials get */
  char **entries = NULL;
  int nentries = 0;
  if (cvd && !cvd_empty && !fake) {
    char *copy = tl_strdup(cvd), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      while (*tok == ' ') tok++;
      entries = tl_xrealloc(entries, (size_t)(nentries + 1) * sizeof *entries);
      entries[nentries++] = tl_strdup(tok);
    }
    free(copy);
  }
  int want = e->opt.gpus >= 0 ? (int)e->opt.gpus : n;
  if (want != n) {
    char *old = r->gpu_source;
    if (want < n)
      r->gpu_source = tl_strfmt("--gpus %d of %d; %s", want, n, old);
    else
      r->gpu_source = tl_strfmt("--gpus %d; %d found: %s", want, n, old);
    free(old);
    if (want < n) {
      for (int i = want; i < n; i++) gpu_free(&g[i]);
    } else {
      g = tl_xrealloc(g, (size_t)want * sizeof *g);
      memset(g + n, 0, (size_t)(want - n) * sizeof *g);
      for (int i = n; i < want; i++) g[i].name = tl_strdup("declared by --gpus (not detected)");
    }
    n = want;
  }
  for (int i = 0; i < n; i++) {
    if (i < nentries) g[i].id = tl_strdup(entries[i]);
    else if (g[i].uuid && !cvd) g[i].id = tl_strdup(g[i].uuid);
    else g[i].id = tl_strfmt("%d", i);
  }
  if (nentries > 0) {
    char *old = r->gpu_source;
    r->gpu_source = tl_strfmt("%s; CUDA_VISIBLE_DEVICES=%s of this process", old, cvd);
    free(old);
  }
  for (int i = 0; i < nentries; i++) free(entries[i]);
  free(entries);
  r->gpus = g, r->ngpus = n;
  e->gpus_total = n;
}

/* Custom resources: the experiment's custom_resources, then --resource NAME=N (wins). */
static void add_custom(struct tl_res *r, const char *entry, const char *from) {
  const char *eq = strchr(entry, '=');
  if (!eq) return;
  char *name = tl_strfmt("%.*s", (int)(eq - entry), entry);
  double v = strtod(eq + 1, NULL);
  for (int i = 0; i < r->ncustom; i++)
    if (strcmp(r->custom[i].name, name) == 0) {
      r->custom[i].total = v, r->custom[i].from = from;
      free(name);
      return;
    }
  r->custom = tl_xrealloc(r->custom, (size_t)(r->ncustom + 1) * sizeof *r->custom);
  r->custom[r->ncustom++] = (tl_custom){.name = name, .total = v, .from = from};
}

int tl_resources_detect(tl_engine *e, int probe_gpus) {
  struct tl_res *r = tl_xcalloc(1, sizeof *r);
  r->simulate = e->simulate;
  r->bind = !e->opt.no_bind && !e->simulate;
  if (e->opt.no_bind) r->bind_note = tl_strdup("off: --no-bind");
  if (hwloc_topology_init(&r->topo) == 0) {
    /* PCI devices stay in the topology when cards may be probed: a card's locality comes
     * from its PCI object (else from sysfs, locality()). Without cards they are not read:
     * each device's config space took 2-3 ms to read on a VM, most of the engine's start-up */
    if (!e->simulate && (probe_gpus || e->opt.gpus > 0 || fake_gpus_env())) {
      hwloc_topology_set_io_types_filter(r->topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
      /* from sysfs (hwloc's linux backend): the libpciaccess plugin finds the same devices
       * but leaks at every load and costs a plugin load per run */
      hwloc_topology_set_components(r->topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "pci");
    }
    if (hwloc_topology_load(r->topo) != 0) {
      hwloc_topology_destroy(r->topo);
      r->topo = NULL;
    }
  } else {
    r->topo = NULL;
  }
  if (r->topo) {
    r->pus_seen = hwloc_get_nbobjs_by_type(r->topo, HWLOC_OBJ_PU);
    r->cores_seen = hwloc_get_nbobjs_by_type(r->topo, HWLOC_OBJ_CORE);
    r->numa_seen = hwloc_get_nbobjs_by_type(r->topo, HWLOC_OBJ_NUMANODE);
  }
  e->res = r;
  the_engine = e;
  inventory_cpus(e, r);
  inventory_mem(e, r);
  inventory_gpus(e, r, probe_gpus);
  for (char **p = e->custom_resources; p && *p; p++) add_custom(r, *p, "experiment");
  for (const char **p = e->opt.custom; p && *p; p++) add_custom(r, *p, "--resource");
  if (r->bind) {
    /* pinned trials start through tunelua-bind, built and installed beside the engine */
    const char *slash = e->self_exe ? strrchr(e->self_exe, '/') : NULL;
    r->binder = slash ? tl_strfmt("%.*s/tunelua-bind", (int)(slash - e->self_exe), e->self_exe)
                      : NULL;
    if (!r->binder || access(r->binder, X_OK) != 0) {
      r->bind = 0;
      r->bind_note = tl_strfmt("off: %s is missing (make builds it beside tunelua)",
                               r->binder ? r->binder : "tunelua-bind");
      free(r->binder);
      r->binder = NULL;
    }
  }
  return 0;
}

void tl_resources_free(tl_engine *e) {
  struct tl_res *r = e->res;
  if (!r) return;
  for (int i = 0; i < r->ngpus; i++) gpu_free(&r->gpus[i]);
  for (int i = 0; i < r->ncustom; i++) free(r->custom[i].name);
  free(r->gpus), free(r->custom), free(r->pus), free(r->gpu_source), free(r->mem_source);
  free(r->bind_note), free(r->binder);
  if (r->topo) hwloc_topology_destroy(r->topo);
  free(r);
  e->res = NULL;
  if (the_engine == e) the_engine = NULL;
}

int tl_resources_binding(const tl_engine *e) { return e->res && e->res->bind; }

const char *tl_resources_binder(const tl_engine *e) { return e->res ? e->res->binder : NULL; }

/* ---- placement ---- */

/* What is in use, or nothing at all (empty): the same search answers "fits now" and "could
 * ever fit". */
typedef struct {
  const struct tl_res *r;
  int empty;
} view;

static double pu_free(view v, int i) { return v.r->pus[i].cap - (v.empty ? 0 : v.r->pus[i].used); }
static double gpu_used(view v, int i) { return v.empty ? 0 : v.r->gpus[i].used; }

static int in_set(hwloc_const_bitmap_t near, const tl_pu *p) {
  return near && hwloc_bitmap_isset(near, (unsigned)p->os);
}

/* Chooses PUs for cpu CPUs: floor(cpu) PUs with a whole CPU free each (near the card first,
 * then on cores nobody else uses, then in order), and the fraction on one more PU (near the
 * card first, then the fullest PU it fits on, so that fractions pack together and whole PUs
 * stay free). Fills pu[]/share[]; returns how many, or -1. */
static int choose_pus(view v, double cpu, hwloc_const_bitmap_t near, int *pu, double *share) {
  const struct tl_res *r = v.r;
  int whole = (int)floor(cpu + EPS), n = 0;
  double frac = cpu - whole;
  if (frac < 1e-6) frac = 0;
  char *taken = tl_xcalloc((size_t)r->npus + 1, 1);
  for (int k = 0; k < whole; k++) {
    int best = -1, best_score = 0;
    for (int i = 0; i < r->npus; i++) {
      if (taken[i] || pu_free(v, i) < 1 - EPS) continue;
      int busy_core = 0;
      for (int j = 0; j < r->npus; j++)
        if (j != i && r->pus[j].core == r->pus[i].core && r->pus[i].core >= 0 &&
            (taken[j] || (!v.empty && r->pus[j].used > EPS)))
          busy_core = 1;
      int score = (near && !in_set(near, &r->pus[i]) ? 4 : 0) + (busy_core ? 2 : 0) +
                  (!v.empty && r->pus[i].used > EPS ? 1 : 0);
      if (best < 0 || score < best_score) best = i, best_score = score;
    }
    if (best < 0) {
      free(taken);
      return -1;
    }
    taken[best] = 1;
    pu[n] = best, share[n] = 1, n++;
  }
  if (frac > 0) {
    int best = -1;
    double best_left = 0;
    int best_near = 0;
    for (int pass = 0; pass < 2 && best < 0; pass++) /* a PU of its own first, else one it has */
      for (int i = 0; i < r->npus; i++) {
        if ((pass == 0) == (taken[i] != 0)) continue;
        double left = pu_free(v, i) - (taken[i] ? 1 : 0) - frac;
        if (left < -EPS) continue;
        int isnear = in_set(near, &r->pus[i]);
        if (best < 0 || (isnear && !best_near) || (isnear == best_near && left < best_left - EPS))
          best = i, best_left = left, best_near = isnear;
      }
    if (best < 0) {
      free(taken);
      return -1;
    }
    int k;
    for (k = 0; k < n && pu[k] != best; k++) {}
    if (k < n) share[k] += frac;
    else pu[n] = best, share[n] = frac, n++;
  }
  free(taken);
  return n;
}

/* Cards for gpu: a fraction goes on the fullest card it fits on (fractions pack), whole cards
 * need that many free ones. Fills the candidates in order of preference: cards[] holds one
 * choice per candidate for a fraction, or the single set for whole cards. Returns the number
 * of candidate placements. */
static int gpu_candidates(view v, double gpu, int *order) {
  const struct tl_res *r = v.r;
  int m = 0;
  if (gpu < 1 - EPS) {
    for (int i = 0; i < r->ngpus; i++)
      if (gpu_used(v, i) + gpu <= 1 + EPS) order[m++] = i;
    for (int i = 1; i < m; i++) /* fullest first, then by index */
      for (int j = i; j > 0 && gpu_used(v, order[j]) > gpu_used(v, order[j - 1]) + EPS; j--) {
        int x = order[j];
        order[j] = order[j - 1], order[j - 1] = x;
      }
    return m;
  }
  for (int i = 0; i < r->ngpus; i++)
    if (gpu_used(v, i) <= EPS) order[m++] = i;
  return m;
}

/* The search itself: custom amounts, memory, the total CPU count, cards, PUs near them. On
 * success fills a (when not NULL) and returns 1; 0 otherwise, with *what naming the first
 * resource that was short. */
static int search(view v, const tl_request *rq, tl_alloc *a, const char **what) {
  const struct tl_res *r = v.r;
  for (int k = 0; k < rq->ncustom; k++) {
    if (rq->amounts[k] <= 0) continue;
    int found = 0;
    for (int i = 0; i < r->ncustom; i++)
      if (strcmp(r->custom[i].name, rq->names[k]) == 0) {
        found = 1;
        if (rq->amounts[k] > r->custom[i].total - (v.empty ? 0 : r->custom[i].used) + EPS) {
          *what = rq->names[k];
          return 0;
        }
      }
    if (!found) {
      *what = rq->names[k];
      return 0;
    }
  }
  if (rq->mem > 0 && r->mem_total > 0 && rq->mem > r->mem_total - (v.empty ? 0 : r->mem_used) + EPS) {
    *what = "mem";
    return 0;
  }
  double cpus_used = 0;
  for (int i = 0; !v.empty && i < r->npus; i++) cpus_used += r->pus[i].used;
  if (rq->cpu > r->cpus - cpus_used + EPS) {
    *what = "cpu";
    return 0;
  }
  int *pu = tl_xcalloc((size_t)r->npus + 2, sizeof *pu);
  double *share = tl_xcalloc((size_t)r->npus + 2, sizeof *share);
  int *order = tl_xcalloc((size_t)r->ngpus + 1, sizeof *order);
  int ncand = 0, npu = -1, ngpu = 0, chosen = -1;
  hwloc_bitmap_t near = NULL;
  if (rq->gpu > EPS) {
    int cards = rq->gpu < 1 - EPS ? 1 : (int)llround(rq->gpu);
    ncand = gpu_candidates(v, rq->gpu, order);
    if (rq->gpu < 1 - EPS) {
      /* each candidate card in turn, with PUs near it */
      for (int c = 0; c < ncand && npu < 0; c++) {
        const tl_gpu *g = &r->gpus[order[c]];
        npu = choose_pus(v, rq->cpu, g->cpuset, pu, share);
        if (npu >= 0) chosen = order[c];
      }
      ngpu = chosen >= 0 ? 1 : 0;
      if (ncand == 0) *what = "gpu";
      else if (npu < 0) *what = "cpu";
    } else if (ncand >= cards) {
      near = hwloc_bitmap_alloc();
      int known = 0;
      for (int c = 0; c < cards; c++)
        if (r->gpus[order[c]].cpuset) hwloc_bitmap_or(near, near, r->gpus[order[c]].cpuset), known = 1;
      npu = choose_pus(v, rq->cpu, known ? near : NULL, pu, share);
      ngpu = cards;
      if (npu < 0) *what = "cpu";
    } else {
      *what = "gpu";
    }
  } else {
    npu = choose_pus(v, rq->cpu, NULL, pu, share);
    if (npu < 0) *what = "cpu";
  }
  if (near) hwloc_bitmap_free(near);
  int ok = npu >= 0 && (rq->gpu <= EPS || ngpu > 0);
  if (ok && a) {
    memset(a, 0, sizeof *a);
    a->cpu = rq->cpu, a->gpu = rq->gpu > EPS ? rq->gpu : 0, a->mem = rq->mem;
    a->npu = npu;
    a->pu = tl_xcalloc((size_t)npu + 1, sizeof *a->pu);
    a->pu_share = tl_xcalloc((size_t)npu + 1, sizeof *a->pu_share);
    memcpy(a->pu, pu, (size_t)npu * sizeof *pu);
    memcpy(a->pu_share, share, (size_t)npu * sizeof *share);
    a->ncard = ngpu;
    a->card = tl_xcalloc((size_t)ngpu + 1, sizeof *a->card);
    if (ngpu == 1 && chosen >= 0) a->card[0] = chosen;
    else memcpy(a->card, order, (size_t)ngpu * sizeof *order);
    a->card_share = rq->gpu < 1 - EPS ? rq->gpu : 1;
  }
  free(pu), free(share), free(order);
  return ok;
}

/* "cpu=1, gpu=0.5, mem=4 GiB, license=1": what a request asks for. */
static void describe_request(tl_buf *b, const tl_request *rq) {
  tl_buf_printf(b, "cpu=%g, gpu=%g", rq->cpu, rq->gpu);
  if (rq->mem > 0) {
    char *m = fmt_size(rq->mem);
    tl_buf_printf(b, ", mem=%s", m);
    free(m);
  }
  for (int k = 0; k < rq->ncustom; k++) tl_buf_printf(b, ", %s=%g", rq->names[k], rq->amounts[k]);
}

static char *never_message(tl_engine *e, const tl_request *rq, const char *what) {
  struct tl_res *r = e->res;
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_adds(&b, "the trial asks for ");
  describe_request(&b, rq);
  int listed = 2 + (rq->mem > 0) + rq->ncustom, k = 0;
#define SEP() (++k == 1 ? "" : k == listed ? " and " : ", ")
  tl_buf_printf(&b, " but this machine has %s%g CPUs", SEP(), r->cpus);
  tl_buf_printf(&b, "%s%d GPUs", SEP(), r->ngpus);
  if (rq->mem > 0) {
    char *m = fmt_size(r->mem_total);
    tl_buf_printf(&b, "%s%s of memory", SEP(), m);
    free(m);
  }
  for (int j = 0; j < rq->ncustom; j++) {
    double have = 0;
    const char *from = "none declared: custom_resources or --resource";
    for (int i = 0; i < r->ncustom; i++)
      if (strcmp(r->custom[i].name, rq->names[j]) == 0) have = r->custom[i].total, from = r->custom[i].from;
    tl_buf_printf(&b, "%s%s=%g (%s)", SEP(), rq->names[j], have, from);
  }
#undef SEP
  tl_buf_printf(&b, " (CPUs: %s; GPUs: %s", e->cpu_source ? e->cpu_source : "detected", r->gpu_source);
  if (rq->mem > 0) tl_buf_printf(&b, "; memory: %s", r->mem_source);
  tl_buf_adds(&b, ")");
  if (strcmp(what, "cpu") == 0 && rq->cpu <= r->cpus + EPS)
    tl_buf_adds(&b, "; its CPUs cannot be placed on the PUs there are");
  tl_buf_printf(&b, "; %s is more than there is: lower trainer.resources or use --cpus/--gpus%s",
                what, rq->mem > 0 || rq->ncustom > 0 ? "/--mem/--resource" : "");
  char *out = tl_strdup(b.data);
  tl_buf_free(&b);
  return out;
}

static void alloc_free(tl_alloc *a) {
  if (!a) return;
  free(a->pu), free(a->pu_share), free(a->card), free(a->custom), free(a->cpuset), free(a->cuda);
  free(a);
}

int tl_resources_place(tl_engine *e, tl_trial *t, const tl_request *rq, char **why) {
  struct tl_res *r = e->res;
  if (rq->nodes > 1) {
    *why = tl_strfmt("the trial asks for nodes=%d: trials spanning nodes need the slurm executor "
                     "(--executor slurm)", rq->nodes);
    return -1;
  }
  if (!r) { /* an engine built by hand (tests): CPUs counted, nothing placed */
    if (rq->cpu > e->cpus_total + EPS || rq->gpu > e->gpus_total + EPS) {
      *why = tl_strfmt("the trial asks for cpu=%g, gpu=%g but this machine has %g CPUs and %g GPUs",
                       rq->cpu, rq->gpu, e->cpus_total, e->gpus_total);
      return -1;
    }
    if (e->running > 0 && e->cpus_used + rq->cpu > e->cpus_total + EPS) return 0;
    t->cpu = rq->cpu;
    e->cpus_used += rq->cpu;
    return 1;
  }
  const char *what = "cpu";
  if (!search((view){r, 1}, rq, NULL, &what)) {
    *why = never_message(e, rq, what);
    return -1;
  }
  tl_alloc *a = tl_xcalloc(1, sizeof *a);
  if (!search((view){r, 0}, rq, a, &what)) {
    free(a);
    return 0;
  }
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  for (int i = 0; i < a->npu; i++) {
    r->pus[a->pu[i]].used += a->pu_share[i];
    hwloc_bitmap_set(set, (unsigned)r->pus[a->pu[i]].os);
  }
  a->cpuset = list_of(set);
  hwloc_bitmap_free(set);
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_adds(&b, "");
  for (int i = 0; i < a->ncard; i++) {
    r->gpus[a->card[i]].used += a->card_share;
    tl_buf_printf(&b, "%s%s", i ? "," : "", r->gpus[a->card[i]].id);
  }
  a->cuda = tl_strdup(b.data ? b.data : "");
  tl_buf_free(&b);
  r->mem_used += a->mem;
  if (r->ncustom > 0) {
    a->custom = tl_xcalloc((size_t)r->ncustom, sizeof *a->custom);
    for (int k = 0; k < rq->ncustom; k++)
      for (int i = 0; i < r->ncustom; i++)
        if (strcmp(r->custom[i].name, rq->names[k]) == 0) {
          a->custom[i] += rq->amounts[k];
          r->custom[i].used += rq->amounts[k];
        }
  }
  a->threads = (int)ceil(rq->cpu - 1e-6);
  if (a->threads < 1) a->threads = 1;
  alloc_free(t->alloc);
  t->alloc = a;
  t->cpu = rq->cpu;
  e->cpus_used += rq->cpu;
  return 1;
}

void tl_resources_release(tl_engine *e, tl_trial *t) {
  e->cpus_used -= t->cpu;
  if (e->cpus_used < 1e-9) e->cpus_used = 0;
  t->cpu = 0;
  tl_alloc *a = t->alloc;
  struct tl_res *r = e->res;
  if (!a) return;
  t->alloc = NULL;
  if (r) {
    for (int i = 0; i < a->npu && a->pu[i] < r->npus; i++) {
      tl_pu *p = &r->pus[a->pu[i]];
      p->used -= a->pu_share[i];
      if (p->used < EPS) p->used = 0;
    }
    for (int i = 0; i < a->ncard && a->card[i] < r->ngpus; i++) {
      tl_gpu *g = &r->gpus[a->card[i]];
      g->used -= a->card_share;
      if (g->used < EPS) g->used = 0;
    }
    r->mem_used -= a->mem;
    if (r->mem_used < 1) r->mem_used = 0;
    for (int i = 0; a->custom && i < r->ncustom; i++) {
      r->custom[i].used -= a->custom[i];
      if (r->custom[i].used < EPS) r->custom[i].used = 0;
    }
  }
  alloc_free(a);
}

void tl_resources_alloc_free(tl_alloc *a) { alloc_free(a); }

void tl_resources_journal(tl_buf *b, const tl_trial *t) {
  const tl_alloc *a = t->alloc;
  if (!a) return;
  tl_buf_adds(b, ",\"resources\":{\"cpu\":");
  tl_buf_add_num(b, a->cpu);
  tl_buf_adds(b, ",\"gpu\":");
  tl_buf_add_num(b, a->gpu);
  if (a->mem > 0) {
    tl_buf_adds(b, ",\"mem\":");
    tl_buf_add_num(b, a->mem);
  }
  tl_buf_adds(b, ",\"cpus\":");
  tl_buf_add_json_str(b, a->cpuset);
  if (a->ncard > 0) {
    tl_buf_adds(b, ",\"cuda\":");
    tl_buf_add_json_str(b, a->cuda);
  }
  tl_buf_adds(b, "}");
}

/* For Lua through the FFI (exp.fits): 1 when a trial asking for this can start now, or can
 * never run here (choosing it lets the engine fail it at once, with its message); 0 when it
 * must wait for others to finish. Strings are borrowed for the call. */
TL_EXPORT int tl_ffi_resources_fits(double cpu, double gpu, double mem, int n, const char **names,
                                    const double *amounts) {
  tl_engine *e = the_engine;
  if (!e || !e->res || e->slurm) return 1; /* slurm: the cluster decides */
  tl_request rq = {.cpu = cpu, .gpu = gpu, .mem = mem, .ncustom = n, .names = (char **)names,
                   .amounts = (double *)amounts};
  const char *what;
  if (!search((view){e->res, 1}, &rq, NULL, &what)) return 1;
  return search((view){e->res, 0}, &rq, NULL, &what);
}

/* ---- tunelua resources ---- */

static cJSON *inventory_json(tl_engine *e) {
  struct tl_res *r = e->res;
  cJSON *o = cJSON_CreateObject(), *c = cJSON_AddObjectToObject(o, "cpus");
  cJSON_AddNumberToObject(c, "total", r->cpus);
  cJSON_AddStringToObject(c, "source", e->cpu_source);
  hwloc_bitmap_t all = hwloc_bitmap_alloc();
  cJSON *pus = cJSON_AddArrayToObject(c, "pus");
  for (int i = 0; i < r->npus; i++) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "os", r->pus[i].os);
    cJSON_AddNumberToObject(p, "core", r->pus[i].core);
    cJSON_AddNumberToObject(p, "numa", r->pus[i].numa);
    cJSON_AddNumberToObject(p, "cpus", r->pus[i].cap);
    cJSON_AddItemToArray(pus, p);
    hwloc_bitmap_set(all, (unsigned)r->pus[i].os);
  }
  char *s = list_of(all);
  cJSON_AddStringToObject(c, "cpuset", s);
  free(s);
  hwloc_bitmap_free(all);
  cJSON_AddBoolToObject(c, "binding", r->bind);
  if (r->bind_note) cJSON_AddStringToObject(c, "binding_note", r->bind_note);
  cJSON *t = cJSON_AddObjectToObject(o, "topology");
  cJSON_AddStringToObject(t, "source", r->topo ? "hwloc" : "none");
  cJSON_AddNumberToObject(t, "pus", r->pus_seen);
  cJSON_AddNumberToObject(t, "cores", r->cores_seen);
  cJSON *nodes = cJSON_AddArrayToObject(t, "numa_nodes");
  for (int i = 0; r->topo && i < r->numa_seen; i++) {
    hwloc_obj_t n = hwloc_get_obj_by_type(r->topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    cJSON *x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "os", n->os_index);
    s = n->cpuset ? list_of(n->cpuset) : tl_strdup("");
    cJSON_AddStringToObject(x, "cpuset", s);
    free(s);
    cJSON_AddNumberToObject(x, "memory", (double)n->attr->numanode.local_memory);
    cJSON_AddItemToArray(nodes, x);
  }
  cJSON *m = cJSON_AddObjectToObject(o, "memory");
  cJSON_AddNumberToObject(m, "total", r->mem_total);
  cJSON_AddStringToObject(m, "source", r->mem_source);
  cJSON *g = cJSON_AddObjectToObject(o, "gpus");
  cJSON_AddNumberToObject(g, "count", r->ngpus);
  cJSON_AddStringToObject(g, "source", r->gpu_source);
  const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
  if (cvd) cJSON_AddStringToObject(g, "cuda_visible_devices", cvd);
  else cJSON_AddNullToObject(g, "cuda_visible_devices");
  cJSON *devs = cJSON_AddArrayToObject(g, "devices");
  for (int i = 0; i < r->ngpus; i++) {
    const tl_gpu *d = &r->gpus[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "index", i);
    cJSON_AddStringToObject(x, "id", d->id);
    cJSON_AddStringToObject(x, "name", d->name);
#define STR_OR_NULL(k, v) ((v) ? (void)cJSON_AddStringToObject(x, k, v) : (void)cJSON_AddNullToObject(x, k))
    STR_OR_NULL("uuid", d->uuid);
    STR_OR_NULL("pci", d->pci);
    cJSON_AddNumberToObject(x, "memory", d->mem);
    s = d->cpuset ? list_of(d->cpuset) : NULL;
    STR_OR_NULL("cpuset", s);
    free(s);
    STR_OR_NULL("numa", d->numa);
#undef STR_OR_NULL
    cJSON_AddItemToArray(devs, x);
  }
  cJSON *cu = cJSON_AddObjectToObject(o, "custom");
  for (int i = 0; i < r->ncustom; i++) {
    cJSON *x = cJSON_AddObjectToObject(cu, r->custom[i].name);
    cJSON_AddNumberToObject(x, "total", r->custom[i].total);
    cJSON_AddStringToObject(x, "source", r->custom[i].from);
  }
  return o;
}

static void print_inventory(tl_engine *e) {
  struct tl_res *r = e->res;
  hwloc_bitmap_t all = hwloc_bitmap_alloc();
  for (int i = 0; i < r->npus; i++) hwloc_bitmap_set(all, (unsigned)r->pus[i].os);
  char *set = list_of(all);
  hwloc_bitmap_free(all);
  printf("CPUs    %g for trials (%s)\n", r->cpus, e->cpu_source);
  printf("        PUs %s; %s\n", set,
         r->bind ? "each trial's process is pinned to its own PUs (tunelua-bind)"
                 : r->bind_note ? r->bind_note : "not pinned");
  free(set);
  char *mem = fmt_size(r->mem_total);
  printf("Memory  %s (%s)\n", mem, r->mem_source);
  free(mem);
  for (int i = 0; r->topo && i < r->numa_seen; i++) {
    hwloc_obj_t n = hwloc_get_obj_by_type(r->topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    char *cs = n->cpuset ? list_of(n->cpuset) : tl_strdup("?");
    char *nm = fmt_size((double)n->attr->numanode.local_memory);
    printf("%snode %u: PUs %s, %s\n", i == 0 ? "NUMA    " : "        ", n->os_index, cs, nm);
    free(cs), free(nm);
  }
  printf("GPUs    %d (%s)\n", r->ngpus, r->gpu_source);
  for (int i = 0; i < r->ngpus; i++) {
    const tl_gpu *d = &r->gpus[i];
    char *gm = d->mem > 0 ? fmt_size(d->mem) : tl_strdup("memory unknown");
    char *cs = d->cpuset ? list_of(d->cpuset) : NULL;
    printf("  %d  %s, %s", i, d->name, gm);
    if (d->pci) printf(", PCI %s", d->pci);
    if (d->uuid) printf(", %s", d->uuid);
    if (cs) printf(", near PUs %s", cs);
    if (d->numa) printf(" (NUMA %s)", d->numa);
    if (!cs) printf(", locality unknown");
    printf("; trials get CUDA_VISIBLE_DEVICES=%s\n", d->id);
    free(gm), free(cs);
  }
  if (r->ncustom == 0)
    printf("Custom  none (custom_resources = { NAME = N } in the experiment, or --resource NAME=N)\n");
  for (int i = 0; i < r->ncustom; i++)
    printf("%s%s=%g (%s)\n", i == 0 ? "Custom  " : "        ", r->custom[i].name,
           r->custom[i].total, r->custom[i].from);
}

int tl_resources_main(int argc, char **argv) {
  tl_engine E = {0}, *e = &E;
  e->opt.gpus = -1;
  int json = 0, nc = 0;
  const char **custom = tl_xcalloc((size_t)argc + 1, sizeof *custom);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *eq = strchr(a, '=');
    char name[32];
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
    if (strcmp(a, "--json") == 0) { json = 1; continue; }
    if (strcmp(a, "--no-bind") == 0) { e->opt.no_bind = 1; continue; }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      printf("usage: tunelua resources [--json] [--cpus N] [--gpus N] [--mem SIZE] "
             "[--resource NAME=N] [--no-bind]\n"
             "  what trials can have here and where it was found (hwloc, the CUDA runtime)\n");
      free(custom);
      return 0;
    }
    const char *val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!val || (strcmp(name, "--cpus") && strcmp(name, "--gpus") && strcmp(name, "--mem") &&
                 strcmp(name, "--resource"))) {
      fprintf(stderr, "tunelua resources: %s %s (see tunelua resources --help)\n",
              val ? "unknown option" : "a value is missing after", a);
      free(custom);
      return TL_EXIT_USAGE;
    }
    double v = strcmp(name, "--resource") == 0 ? 0 : strcmp(name, "--mem") == 0 ? tl_parse_size(val) : atof(val);
    if (strcmp(name, "--cpus") == 0) e->opt.cpus = v;
    else if (strcmp(name, "--gpus") == 0) e->opt.gpus = v;
    else if (strcmp(name, "--mem") == 0) e->opt.mem = v;
    else custom[nc++] = val;
  }
  e->opt.custom = custom;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) exe[n] = 0, e->self_exe = tl_strdup(exe);
  tl_resources_detect(e, 1);
  if (json) {
    cJSON *o = inventory_json(e);
    char *s = cJSON_Print(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
  } else {
    print_inventory(e);
  }
  tl_resources_free(e);
  free(e->cpu_source), free(e->self_exe), free(custom);
  return 0;
}

void tl_resources_usage(const tl_engine *e, double *gpus_used, double *mem_used, double *mem_total) {
  const struct tl_res *r = e->res;
  *gpus_used = *mem_used = *mem_total = 0;
  if (!r) return;
  for (int i = 0; i < r->ngpus; i++) *gpus_used += r->gpus[i].used;
  *mem_used = r->mem_used;
  *mem_total = r->mem_total;
}
