/* Child processes started with vfork semantics (clone(CLONE_VM | CLONE_VFORK): the child
 * shares the engine's memory until it execs), where uv_spawn forks, which copies the
 * engine's page tables on every launch: about 1.5 ms at 12 MB of RSS on the benchmark
 * machine, 30 ms at 100 MB. Not glibc's posix_spawn, which does the same but maps a fresh
 * stack for every child and unmaps it after: that munmap shoots down the TLB of the CPU the
 * child ran on, 0.5 to 0.9 ms on four launches in ten on the benchmark VM (an IPI to an idle
 * vCPU); here one stack serves every launch. Exits are reaped from a SIGCHLD handle of the
 * loop. */
#ifndef TL_SPAWN_H
#define TL_SPAWN_H

#include <sched.h>
#include <stdint.h>
#include <uv.h>

typedef void (*tl_spawn_exit_fn)(uv_loop_t *loop, void *ud, int64_t status, int sig);

/* Starts file (a path: relative ones are relative to cwd) with argv and env, in cwd, in a
 * new session (its own process group), stdin/stdout/stderr from the three fds, every
 * signal at its default and none blocked, and, when cpus is not NULL, its affinity set to
 * cpus before the exec (the engine's own stays as it is). on_exit(loop, ud, status, sig) is
 * called once when it ends. Returns 0 with *pid, or -errno (-ENOEXEC: not a binary nor a #!
 * script). Called from the loop's thread only (one stack serves every child). */
int tl_spawn(uv_loop_t *loop, const char *file, char **argv, char **env, const char *cwd,
             const int fds[3], const cpu_set_t *cpus, tl_spawn_exit_fn on_exit, void *ud,
             int *pid);
/* Closes the SIGCHLD handle (no child left): before the loop's end. */
void tl_spawn_close(void);

#endif
