/* Child processes started with posix_spawn: glibc starts them with vfork semantics (the
 * child shares the engine's memory until it execs), where uv_spawn forks, which copies the
 * engine's page tables on every launch: about 1.5 ms at 12 MB of RSS on the benchmark
 * machine, 30 ms at 100 MB. Exits are reaped from a SIGCHLD handle of the loop. */
#ifndef TL_SPAWN_H
#define TL_SPAWN_H

#include <stdint.h>
#include <uv.h>

typedef void (*tl_spawn_exit_fn)(uv_loop_t *loop, void *ud, int64_t status, int sig);

/* Starts file (a path: relative ones are relative to cwd) with argv and env, in cwd, in a
 * new session (its own process group), stdin/stdout/stderr from the three fds, every
 * signal at its default and none blocked. on_exit(loop, ud, status, sig) is called once when
 * it ends. Returns 0 with *pid, or -errno (-ENOEXEC: not a binary nor a #! script). */
int tl_spawn(uv_loop_t *loop, const char *file, char **argv, char **env, const char *cwd,
             const int fds[3], tl_spawn_exit_fn on_exit, void *ud, int *pid);
/* Closes the SIGCHLD handle (no child left): before the loop's end. */
void tl_spawn_close(void);

#endif
