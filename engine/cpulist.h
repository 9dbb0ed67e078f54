/* CPU lists ("0-3,8", the form Cpus_allowed_list and hwloc write), shared by the engine
 * (exec_local.c) and the libc-only tunelua-bind, so header-only. */
#ifndef TL_CPULIST_H
#define TL_CPULIST_H

#include <sched.h>
#include <stdlib.h>

/* Fills cs from a CPU list; 0 on success, -1 when the list is malformed or empty. */
static inline int tl_cpu_list(const char *s, cpu_set_t *cs) {
  CPU_ZERO(cs);
  int any = 0;
  while (*s) {
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (end == s || a < 0) return -1;
    if (*end == '-') {
      const char *t = end + 1;
      b = strtol(t, &end, 10);
      if (end == t || b < a) return -1;
    }
    for (long i = a; i <= b && i < CPU_SETSIZE; i++) CPU_SET((int)i, cs), any = 1;
    if (*end == ',') end++;
    else if (*end) return -1;
    s = end;
  }
  return any ? 0 : -1;
}

#endif
