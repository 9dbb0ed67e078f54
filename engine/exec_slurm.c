#include "exec_slurm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "exec_local.h"
#include "proto.h"
#include "trial.h"

#define LOST_IN_A_ROW 3 /* losses without a new result before a loss counts as a failure */
#define MARKER_EXIT 97  /* the wrapper's exit code when the node does not see the directory */

typedef struct tl_slurm {
  char **args;        /* srun arguments from tune.slurm (owned) */
  char *address;      /* address= or --address as given, or NULL (owned) */
  char *connect;      /* HOST:PORT that trainers connect to (owned) */
  char *marker;       /* DIR/.tunelua-nodes: a step checks that it sees it (owned) */
  int in_alloc;       /* started inside an allocation (SLURM_JOB_ID) */
  int listening;
  uv_tcp_t server;
} tl_slurm;

/* Per trial, across its runs. */
typedef struct tl_srun {
  double cpu, gpu, mem;
  int nodes;
  int run;            /* runs started so far: names the exit and step files */
  char *exit_file, *step_file; /* of the current run (owned) */
  int lost_in_a_row;
  long lost_at;       /* iteration of the last loss */
} tl_srun;

/* The step's shell: checks the marker, then runs the trainer (rank 0 writes the step file
 * first and its exit status after), so that an srun that ends with no exit status written
 * means the step was lost rather than the trainer failing. When Slurm ends a step (node
 * DOWN, time limit, scancel) every process of it gets SIGTERM: the shell then writes no exit
 * status, whatever the trainer's, since the trainer did not end by itself. Other ranks of a
 * multi-node trial do not talk to the engine. */
static const char wrapper[] =
    "m=$1 x=$2 s=$3; shift 3\n"
    "if [ ! -f \"$m\" ]; then\n"
    "  echo \"tunelua: the experiment directory is not visible on node ${SLURMD_NODENAME:-?}:\" \\\n"
    "    \"$m is missing there; put --dir on a filesystem that every node mounts\" >&2\n"
    "  exit 97\n"
    "fi\n"
    "if [ \"${SLURM_PROCID:-0}\" != 0 ]; then\n"
    "  unset TUNELUA_CONNECT; export TUNELUA_RANK=$SLURM_PROCID; exec \"$@\"\n"
    "fi\n"
    "echo \"$SLURM_JOB_ID.$SLURM_STEP_ID ${SLURMD_NODENAME:-?}\" > \"$s\"\n"
    "g=; trap 'g=1' TERM INT HUP\n"
    "\"$@\"; c=$?\n"
    "[ -n \"$g\" ] || echo $c > \"$x\"\n"
    "exit $c\n";

void tl_slurm_configure(tl_engine *e, char **args, char *address) {
  tl_slurm *s = tl_xcalloc(1, sizeof *s);
  s->args = args;
  s->address = address;
  e->slurm = s;
}

const char *tl_slurm_connect(const tl_engine *e) { return e->slurm->connect; }

/* ---- srun's command line ---- */


static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

char **tl_slurm_argv(char *const *settings, int in_alloc, const tl_request *rq, const char *name,
                     const char *marker, const char *exit_file, const char *step_file,
                     char *const *cmd) {
  tl_strv v = {0};
  tl_strv_push(&v, tl_strdup("srun"));
  tl_strv_push(&v, tl_strfmt("--job-name=%s", name));
  if (in_alloc) tl_strv_push(&v, tl_strdup("--exclusive")); /* its own CPUs within the allocation */
  int nodes = rq->nodes > 1 ? rq->nodes : 1;
  tl_strv_push(&v, tl_strfmt("--nodes=%d", nodes));
  tl_strv_push(&v, tl_strfmt("--ntasks=%d", nodes));
  if (nodes > 1) {
    tl_strv_push(&v, tl_strdup("--ntasks-per-node=1"));
    tl_strv_push(&v, tl_strdup("--kill-on-bad-exit=1"));
  }
  int cpus = (int)ceil(rq->cpu - 1e-9);
  tl_strv_push(&v, tl_strfmt("--cpus-per-task=%d", cpus < 1 ? 1 : cpus));
  if (rq->gpu > 0) tl_strv_push(&v, tl_strfmt("--gres=gpu:%d", (int)ceil(rq->gpu - 1e-9)));
  if (rq->mem > 0) tl_strv_push(&v, tl_strfmt("--mem=%.0fM", ceil(rq->mem / 1048576.0)));
  for (char *const *a = settings; a && *a; a++) {
    /* a step inside an allocation belongs to its job: no partition, account or qos */
    if (in_alloc && (starts(*a, "--partition=") || starts(*a, "--account=") || starts(*a, "--qos=")))
      continue;
    tl_strv_push(&v, tl_strdup(*a));
  }
  tl_strv_push(&v, tl_strdup("/bin/sh"));
  tl_strv_push(&v, tl_strdup("-c"));
  tl_strv_push(&v, tl_strdup(wrapper));
  tl_strv_push(&v, tl_strdup("tunelua-step"));
  tl_strv_push(&v, tl_strdup(marker));
  tl_strv_push(&v, tl_strdup(exit_file));
  tl_strv_push(&v, tl_strdup(step_file));
  for (char *const *a = cmd; a && *a; a++) tl_strv_push(&v, tl_strdup(*a));
  return v.v;
}

/* ---- start: srun, the address, the marker, the cap ---- */

static int in_path(const char *cmd) {
  const char *path = getenv("PATH");
  if (!path) path = "/usr/bin:/bin";
  for (const char *d = path;; d++) {
    const char *end = strchr(d, ':');
    size_t len = end ? (size_t)(end - d) : strlen(d);
    char *f = tl_strfmt("%.*s/%s", (int)len, d, cmd);
    int ok = len && access(f, X_OK) == 0;
    free(f);
    if (ok) return 1;
    if (!end) return 0;
    d = end;
  }
}

/* The first line a command prints (trimmed), or NULL. */
static char *first_line(const char *cmd) {
  FILE *f = popen(cmd, "r");
  if (!f) return NULL;
  char line[4096];
  char *got = fgets(line, sizeof line, f) ? tl_strdup(line) : NULL;
  while (fgets(line, sizeof line, f)) {}
  pclose(f);
  if (got) got[strcspn(got, "\r\n")] = 0;
  if (got && !*got) free(got), got = NULL;
  return got;
}

static const char *setting(const tl_slurm *s, const char *prefix) {
  for (char **a = s->args; a && *a; a++)
    if (starts(*a, prefix)) return *a + strlen(prefix);
  return NULL;
}

/* The address of this host that packets to the nodes leave from: a UDP "connect" to a
 * node's address (nothing is sent) and getsockname. */
static char *route_to_nodes(const tl_slurm *s) {
  const char *part = setting(s, "--partition=");
  const char *nodes = s->in_alloc ? getenv("SLURM_JOB_NODELIST") : NULL;
  if (nodes && strspn(nodes, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,[]") !=
                   strlen(nodes))
    nodes = NULL;
  char *cmd = tl_strfmt("sinfo -h -N -o %%o%s%s%s%s 2>/dev/null", part ? " -p " : "", part ? part : "",
                        nodes ? " -n " : "", nodes ? nodes : "");
  char *node = first_line(cmd);
  free(cmd);
  if (!node) return NULL;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *ai = NULL;
  char *found = NULL;
  if (getaddrinfo(node, "9", &hints, &ai) == 0 && ai) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&me, &len) == 0) {
      char ip[INET_ADDRSTRLEN];
      if (inet_ntop(AF_INET, &me.sin_addr, ip, sizeof ip)) found = tl_strdup(ip);
    }
    if (fd >= 0) close(fd);
  }
  if (ai) freeaddrinfo(ai);
  free(node);
  return found;
}

/* CPUs the trials can share: the allocation's (SLURM_JOB_CPUS_PER_NODE, "4(x2),2"), or the
 * partition's (sinfo %C: allocated/idle/other/total). 0 when unknown. */
static double cluster_cpus(const tl_slurm *s) {
  double total = 0;
  const char *per = s->in_alloc ? getenv("SLURM_JOB_CPUS_PER_NODE") : NULL;
  if (per) {
    for (const char *p = per; *p;) {
      char *end;
      long n = strtol(p, &end, 10), times = 1;
      if (end == p) break;
      if (strncmp(end, "(x", 2) == 0) times = strtol(end + 2, &end, 10), end++;
      total += (double)n * (double)times;
      p = *end == ',' ? end + 1 : end + strlen(end);
    }
    return total;
  }
  const char *part = setting(s, "--partition=");
  char *cmd = tl_strfmt("sinfo -h -o %%C%s%s 2>/dev/null", part ? " -p " : "", part ? part : "");
  FILE *f = popen(cmd, "r");
  free(cmd);
  if (!f) return 0;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    double a, i, o, t;
    if (sscanf(line, "%lf/%lf/%lf/%lf", &a, &i, &o, &t) == 4) total += t - o;
  }
  pclose(f);
  return total;
}

/* "HOST", "HOST:PORT" or "[V6]:PORT" into host and port (0: any). */
static int split_address(const char *a, char **host, int *port) {
  const char *colon = strrchr(a, ':');
  *port = 0;
  if (a[0] == '[') {
    const char *close = strchr(a, ']');
    if (!close) return -1;
    *host = tl_strfmt("%.*s", (int)(close - a - 1), a + 1);
    if (close[1] == ':') *port = atoi(close + 2);
    return 0;
  }
  if (colon && strchr(a, ':') == colon) {
    *host = tl_strfmt("%.*s", (int)(colon - a), a);
    *port = atoi(colon + 1);
  } else {
    *host = tl_strdup(a);
  }
  return 0;
}

int tl_slurm_init(tl_engine *e, char **err) {
  tl_slurm *s = e->slurm;
  if (!in_path("srun")) {
    *err = tl_strdup("the slurm executor needs Slurm's srun in PATH (Debian: slurm-client; on a "
                     "cluster: module load slurm)");
    return -1;
  }
  const char *job = getenv("SLURM_JOB_ID");
  s->in_alloc = job && *job;
  char *host = NULL;
  int port = 0;
  if (s->address) {
    split_address(s->address, &host, &port);
  } else {
    host = route_to_nodes(s);
    if (!host) {
      *err = tl_strdup("slurm: cannot find this host's address on the nodes' network (sinfo gave no "
                       "node address); give it with --address HOST or tune.slurm { address = }");
      return -1;
    }
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *ai = NULL;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  int gai = getaddrinfo(host, portstr, &hints, &ai);
  if (gai != 0 || !ai) {
    *err = tl_strfmt("slurm: cannot resolve the connect-back address %s: %s", host, gai_strerror(gai));
    free(host);
    return -1;
  }
  int rc = tl_proto_listen_tcp(e, &s->server, ai->ai_addr);
  freeaddrinfo(ai);
  if (rc != 0) {
    *err = tl_strfmt("slurm: cannot listen on %s:%d for trainers: %s", host, port, uv_strerror(rc));
    uv_close((uv_handle_t *)&s->server, NULL);
    free(host);
    return -1;
  }
  s->listening = 1;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&s->server, (struct sockaddr *)&bound, &len);
  port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                           : ((struct sockaddr_in *)&bound)->sin_port);
  s->connect = strchr(host, ':') ? tl_strfmt("[%s]:%d", host, port) : tl_strfmt("%s:%d", host, port);
  free(host);
  s->marker = tl_strfmt("%s/.tunelua-nodes", e->dir);
  char *text = tl_strfmt("the Slurm steps of this experiment check that they see this file\n");
  tl_write_file_atomic(s->marker, text, strlen(text));
  free(text);
  if (e->max_concurrent == 0 && e->opt.max_concurrent == 0) {
    double cpus = cluster_cpus(s);
    double per = e->resources_fn ? 1 : ceil(e->cpu_per_trial - 1e-9);
    if (per < 1) per = 1;
    if (cpus > 0) {
      e->max_concurrent = (int)floor(cpus / per);
      if (e->max_concurrent < 1) e->max_concurrent = 1;
      e->cpus_total = cpus;
    }
  }
  tl_buf *b = tl_journal_begin(&e->journal, "slurm", NULL);
  tl_buf_adds(b, ",\"connect\":");
  tl_buf_add_json_str(b, s->connect);
  tl_buf_printf(b, ",\"in_allocation\":%s,\"max_concurrent\":%d", s->in_alloc ? "true" : "false",
                e->max_concurrent);
  if (s->in_alloc) {
    tl_buf_adds(b, ",\"job\":");
    tl_buf_add_json_str(b, job);
  }
  tl_journal_end(&e->journal);
  return 0;
}

/* ---- trials ---- */

static tl_srun *srun_of(tl_trial *t) {
  if (!t->srun) t->srun = tl_xcalloc(1, sizeof *t->srun);
  return t->srun;
}

int tl_slurm_place(tl_engine *e, tl_trial *t, const tl_request *rq) {
  (void)e;
  tl_srun *r = srun_of(t);
  r->cpu = rq->cpu, r->gpu = rq->gpu, r->mem = rq->mem;
  r->nodes = rq->nodes > 1 ? rq->nodes : 1;
  tl_resources_alloc_free(t->alloc);
  t->alloc = NULL;
  t->cpu = 0; /* Slurm places and counts; the engine caps with max_concurrent */
  return 1;
}

static char *read_trimmed(const char *path) {
  char *s = tl_read_file(path, NULL);
  if (s) s[strcspn(s, "\r\n")] = 0;
  return s;
}

static void on_closed_free(uv_handle_t *h) { free(h); }

static void on_srun_exit(uv_process_t *p, int64_t status, int sig) {
  tl_trial *t = p->data;
  tl_engine *e = p->loop->data;
  uv_close((uv_handle_t *)p, on_closed_free);
  tl_srun *r = t->srun;
  char *code = read_trimmed(r->exit_file), *step = read_trimmed(r->step_file), *fatal = NULL;
  if (code) { /* the trainer's own status, not srun's */
    long c = strtol(code, NULL, 10);
    status = c > 128 && c < 160 ? 0 : c;
    sig = c > 128 && c < 160 ? (int)(c - 128) : 0;
  } else if (step && t->kill_stage == 0 && !t->fail) {
    /* the step started and ended without the trainer ending: its node died, or Slurm
     * cancelled it (time limit, scancel, preemption) */
    char *node = strchr(step, ' ');
    if (t->iterations > r->lost_at) r->lost_in_a_row = 0;
    r->lost_at = t->iterations;
    char *why;
    if (++r->lost_in_a_row > LOST_IN_A_ROW) {
      why = tl_strfmt("its Slurm step was lost %d times in a row without a new result (last: step "
                      "%.*s on node %s); giving up on it", r->lost_in_a_row,
                      node ? (int)(node - step) : (int)strlen(step), step, node ? node + 1 : "?");
      tl_trial_fail(e, t, why);
    } else {
      why = tl_strfmt("Slurm step %.*s on node %s ended without the trainer ending (node failure, "
                      "cancelled or time limit): retried from its last checkpoint, not counted as "
                      "a failure", node ? (int)(node - step) : (int)strlen(step), step,
                      node ? node + 1 : "?");
      tl_trial_note(e, t, why);
      t->lost = 1;
    }
    tl_console_message(e, "trial %s: %s", t->id, why);
    free(why);
  } else if (!step && status == MARKER_EXIT && t->kill_stage == 0) {
    /* the step's shell said which node (srun's "task 0: Exited with exit code 97" follows) */
    char *p2 = tl_strfmt("%s/stderr.log", t->dir);
    char *log = tl_read_file(p2, NULL);
    free(p2);
    char *line = log ? strstr(log, "tunelua: the experiment directory is not visible") : NULL;
    char *last = line ? tl_strfmt("%.*s", (int)strcspn(line, "\n"), line) : NULL;
    free(log);
    char *why = last ? tl_strdup(last)
                     : tl_strfmt("the experiment directory %s is not visible on the Slurm nodes", e->dir);
    tl_trial_fail(e, t, why);
    fatal = why;
    free(last);
  }
  free(code), free(step);
  tl_trial_exited(e, t, status, sig);
  if (fatal) { /* no trial can run there: the experiment stops, after this trial has ended */
    if (!e->script_failed) e->fatal_kind = "the Slurm nodes cannot run its trials";
    tl_engine_script_error(e, fatal); /* takes it */
  }
}

/* A trial on several nodes runs one task per node; ranks other than 0 do not connect (the
 * wrapper unsets TUNELUA_CONNECT) and read what rank 0 gets in its welcome from the variables
 * of the clients' by-hand mode: TUNELUA_PARAMS, TUNELUA_RESTORE, TUNELUA_SHARED. */
static char **rank_env(tl_engine *e, tl_trial *t, char **env) {
  int n = 0;
  while (env[n]) n++;
  char **v = tl_xcalloc((size_t)n + 4, sizeof *v);
  int k = 0;
  for (int i = 0; i < n; i++)
    if (!starts(env[i], "TUNELUA_PARAMS=") && !starts(env[i], "TUNELUA_RESTORE=") &&
        !starts(env[i], "TUNELUA_SHARED="))
      v[k++] = env[i];
    else
      free(env[i]);
  free(env);
  char *cfg = tl_json_print(t->config);
  v[k++] = tl_strfmt("TUNELUA_PARAMS=%s", cfg);
  free(cfg);
  const char *restore = tl_trial_latest_checkpoint(t);
  if (restore) v[k++] = tl_strfmt("TUNELUA_RESTORE=%s", restore);
  tl_buf b;
  tl_buf_init(&b);
  tl_buf_adds(&b, "TUNELUA_SHARED={");
  for (char **sh = e->shared; sh && *sh; sh++) {
    char *eq = strchr(*sh, '=');
    char *name = tl_strfmt("%.*s", (int)(eq - *sh), *sh);
    if (sh != e->shared) tl_buf_addc(&b, ',');
    tl_buf_add_json_str(&b, name);
    tl_buf_addc(&b, ':');
    tl_buf_add_json_str(&b, eq + 1);
    free(name);
  }
  tl_buf_addc(&b, '}');
  v[k++] = tl_strdup(b.data);
  tl_buf_free(&b);
  return v;
}

int tl_slurm_spawn(tl_engine *e, tl_trial *t, char **err) {
  tl_slurm *s = e->slurm;
  tl_srun *r = srun_of(t);
  t->lost = 0;
  char *dir = tl_strfmt("%s/.slurm", t->dir);
  tl_mkdirs(dir);
  r->run++;
  free(r->exit_file), free(r->step_file);
  r->exit_file = tl_strfmt("%s/run-%d.exit", dir, r->run);
  r->step_file = tl_strfmt("%s/run-%d.step", dir, r->run);
  unlink(r->exit_file), unlink(r->step_file);
  free(dir);
  int fds[3];
  if (tl_exec_stdio(t, fds, err) != 0) return -1;
  int fd_in = fds[0], fd_out = fds[1], fd_err = fds[2];
  tl_request rq = {.cpu = r->cpu, .gpu = r->gpu, .mem = r->mem, .nodes = r->nodes};
  if (rq.cpu <= 0) rq.cpu = e->cpu_per_trial, rq.gpu = e->gpu_per_trial, rq.nodes = 1;
  char *name = tl_strfmt("tunelua.%s.%s", e->name, t->id);
  char **argv = tl_slurm_argv(s->args, s->in_alloc, &rq, name, s->marker, r->exit_file,
                              r->step_file, e->cmd);
  free(name);
  char **env = tl_exec_env(e, t);
  if (rq.nodes > 1) env = rank_env(e, t, env);
  uv_stdio_container_t stdio[3] = {{.flags = UV_INHERIT_FD, .data.fd = fd_in},
                                   {.flags = UV_INHERIT_FD, .data.fd = fd_out},
                                   {.flags = UV_INHERIT_FD, .data.fd = fd_err}};
  uv_process_options_t o = {0};
  o.file = argv[0];
  o.args = argv;
  o.env = env;
  o.cwd = e->cwd;
  o.exit_cb = on_srun_exit;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED; /* a Ctrl-C at the terminal reaches the engine, not srun */
  uv_process_t *p = tl_xcalloc(1, sizeof *p);
  p->data = t;
  int rc = uv_spawn(e->loop, p, &o);
  close(fd_in), close(fd_out), close(fd_err);
  tl_strv_free(argv);
  tl_strv_free(env);
  if (rc != 0) {
    *err = tl_strfmt("cannot start srun for the trial: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)p, on_closed_free);
    return -1;
  }
  t->proc = p;
  t->pid = p->pid;
  return 0;
}

static void on_scancel_exit(uv_process_t *p, int64_t status, int sig) {
  (void)status, (void)sig;
  uv_close((uv_handle_t *)p, on_closed_free);
}

void tl_slurm_signal(tl_engine *e, tl_trial *t, int sig) {
  if (t->pid <= 0 || t->exited) return;
  /* srun ends the step on SIGTERM (the tasks get SIGTERM, then SIGKILL after KillWait) */
  kill(t->pid, sig == SIGKILL ? SIGKILL : SIGTERM);
  if (sig != SIGKILL || !t->srun) return;
  char *step = read_trimmed(t->srun->step_file);
  if (!step) return; /* no step yet: killing srun withdrew its request */
  step[strcspn(step, " ")] = 0;
  if (!e->slurm->in_alloc) step[strcspn(step, ".")] = 0; /* its own job: cancel all of it */
  char *args[] = {"scancel", step, NULL};
  uv_process_options_t o = {0};
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
  o.file = "scancel";
  o.args = args;
  o.exit_cb = on_scancel_exit;
  o.stdio = stdio;
  o.stdio_count = 3;
  uv_process_t *p = tl_xcalloc(1, sizeof *p);
  if (uv_spawn(e->loop, p, &o) != 0) uv_close((uv_handle_t *)p, on_closed_free);
  free(step);
}

void tl_slurm_close(tl_engine *e) {
  if (!e->slurm || !e->slurm->listening) return;
  e->slurm->listening = 0;
  uv_close((uv_handle_t *)&e->slurm->server, NULL);
  if (e->slurm->marker) unlink(e->slurm->marker);
}

void tl_slurm_trial_free(tl_trial *t) {
  if (!t->srun) return;
  free(t->srun->exit_file), free(t->srun->step_file);
  free(t->srun);
  t->srun = NULL;
}

void tl_slurm_free(tl_engine *e) {
  tl_slurm *s = e->slurm;
  if (!s) return;
  for (char **a = s->args; a && *a; a++) free(*a);
  free(s->args), free(s->address), free(s->connect), free(s->marker);
  free(s);
  e->slurm = NULL;
}
