/* tunelua-bind CPULIST -- CMD [ARGS...]: pins itself to CPULIST ("0-3,8", the form
 * Cpus_allowed_list and hwloc use), then execs CMD with the same argv and environment.
 *
 * The engine starts every pinned trial through the one beside its binary (resources.c,
 * exec_local.c). It is a separate program of libc alone (linked statically where possible)
 * because the engine's own binary, with LuaJIT, libuv and hwloc to load, takes about a
 * millisecond longer to start, and that is paid on every trial launch. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cpulist.h"

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: tunelua-bind CPULIST -- CMD [ARGS...] (the engine runs trials so)\n");
    return 127;
  }
  cpu_set_t cs;
  if (tl_cpu_list(argv[1], &cs) != 0)
    fprintf(stderr, "tunelua: warning: bad CPU list \"%s\"; the trial runs unpinned\n", argv[1]);
  else if (sched_setaffinity(0, sizeof cs, &cs) != 0)
    fprintf(stderr, "tunelua: warning: cannot pin the trial to CPUs %s: %s; it runs unpinned\n",
            argv[1], strerror(errno));
  execvp(argv[3], argv + 3);
  int err = errno;
  fprintf(stderr, "tunelua: cannot run the trainer %s: %s\n", argv[3], strerror(err));
  return err == ENOENT ? 127 : 126;
}
