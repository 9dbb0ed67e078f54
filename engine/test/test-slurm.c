/* The slurm executor without a cluster: the srun command line built from the settings and a
 * trial's request, and the TCP listener trainers connect back to (the token is checked there
 * as on the Unix socket). The specs in spec/slurm/ run it on a real two-node cluster. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec_slurm.h"
#include "proto.h"
#include "test.h"
#include "trial.h"

static char *cmd[] = {"python3", "train.py", "--flag", NULL};

/* Index of an argument in argv, -1 if absent. */
static int find(char **argv, const char *a) {
  for (int i = 0; argv[i]; i++)
    if (strcmp(argv[i], a) == 0) return i;
  return -1;
}

static int count(char **argv) {
  int n = 0;
  while (argv[n]) n++;
  return n;
}

TEST(argv_one_job_per_trial) {
  char *settings[] = {"--partition=gpu", "--account=proj", "--time=30", "--constraint=a100", NULL};
  tl_request rq = {.cpu = 3.5, .gpu = 2, .mem = 4.0 * 1024 * 1024 * 1024 + 1, .nodes = 1};
  char **a = tl_slurm_argv(settings, 0, &rq, "tunelua.x.00001", "/d/.m", "/d/x", "/d/s", cmd);
  CHECK_STR(a[0], "srun");
  CHECK(find(a, "--job-name=tunelua.x.00001") > 0);
  CHECK(find(a, "--exclusive") < 0); /* a job of its own: nothing to pack into */
  CHECK(find(a, "--nodes=1") > 0 && find(a, "--ntasks=1") > 0);
  CHECK(find(a, "--cpus-per-task=4") > 0); /* 3.5 CPUs: Slurm gives whole ones */
  CHECK(find(a, "--gres=gpu:2") > 0);
  CHECK(find(a, "--mem=4097M") > 0); /* rounded up to whole MiB */
  CHECK(find(a, "--partition=gpu") > 0 && find(a, "--account=proj") > 0);
  CHECK(find(a, "--time=30") > 0 && find(a, "--constraint=a100") > 0);
  int sh = find(a, "/bin/sh");
  CHECK(sh > find(a, "--constraint=a100")); /* every srun option comes before the command */
  CHECK_STR(a[sh + 1], "-c");
  CHECK(strstr(a[sh + 2], "SLURM_PROCID") != NULL);
  CHECK_STR(a[sh + 3], "tunelua-step");
  CHECK_STR(a[sh + 4], "/d/.m");
  CHECK_STR(a[sh + 5], "/d/x");
  CHECK_STR(a[sh + 6], "/d/s");
  CHECK_STR(a[sh + 7], "python3");
  CHECK_STR(a[sh + 9], "--flag");
  CHECK(count(a) == sh + 10);
  tl_strv_free(a);
}

TEST(argv_steps_inside_an_allocation) {
  char *settings[] = {"--partition=gpu", "--account=proj", "--qos=high", "--time=5", NULL};
  tl_request rq = {.cpu = 1, .gpu = 0, .mem = 0, .nodes = 1};
  char **a = tl_slurm_argv(settings, 1, &rq, "n", "/m", "/x", "/s", cmd);
  CHECK(find(a, "--exclusive") > 0); /* packed into the allocation on CPUs of its own */
  CHECK(find(a, "--partition=gpu") < 0 && find(a, "--account=proj") < 0 && find(a, "--qos=high") < 0);
  CHECK(find(a, "--time=5") > 0); /* a step may have a time limit */
  CHECK(find(a, "--cpus-per-task=1") > 0);
  for (int i = 0; a[i]; i++) CHECK(strncmp(a[i], "--gres", 6) != 0 && strncmp(a[i], "--mem", 5) != 0);
  tl_strv_free(a);
}

TEST(argv_multi_node_trial) {
  tl_request rq = {.cpu = 0.5, .gpu = 0.5, .mem = 0, .nodes = 4};
  char **a = tl_slurm_argv(NULL, 0, &rq, "n", "/m", "/x", "/s", cmd);
  CHECK(find(a, "--nodes=4") > 0 && find(a, "--ntasks=4") > 0);
  CHECK(find(a, "--ntasks-per-node=1") > 0 && find(a, "--kill-on-bad-exit=1") > 0);
  CHECK(find(a, "--cpus-per-task=1") > 0);
  CHECK(find(a, "--gres=gpu:1") > 0); /* a fraction of a card is a whole card under Slurm */
  tl_strv_free(a);
}

/* ---- TCP: a trainer on another node connects back; the token is checked first ---- */

typedef struct {
  uv_loop_t loop;
  tl_engine e;
  uv_tcp_t server;
  int port;
} fixture;

static void setup(fixture *f) {
  memset(f, 0, sizeof *f);
  uv_loop_init(&f->loop);
  f->loop.data = &f->e;
  f->e.loop = &f->loop;
  strcpy(f->e.token, "secret");
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  tl_proto_listen_tcp(&f->e, &f->server, (struct sockaddr *)&a);
  struct sockaddr_in b;
  int len = sizeof b;
  uv_tcp_getsockname(&f->server, (struct sockaddr *)&b, &len);
  f->port = ntohs(b.sin_port);
}

static void teardown(fixture *f) {
  uv_close((uv_handle_t *)&f->server, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  for (int i = 0; i < f->e.ntrials; i++) tl_trial_free(f->e.trials[i]);
  free(f->e.trials);
  tl_buf_free(&f->e.journal.line);
  uv_loop_close(&f->loop);
}

static int dial(fixture *f) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
  return fd;
}

/* Sends a line, then runs the loop until the reply line comes, or EOF (reply ""). */
static char *exchange(fixture *f, int fd, const char *msg) {
  static char reply[4096];
  if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg)) return "";
  size_t got = 0;
  for (int spins = 0; spins < 2000 && got < sizeof reply - 1; spins++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1) <= 0) continue;
    ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
    if (n <= 0) break;
    got += (size_t)n;
    if (memchr(reply, '\n', got)) break;
  }
  reply[got] = 0;
  return reply;
}

static int sees_eof(fixture *f, int fd) {
  for (int spins = 0; spins < 2000; spins++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1) <= 0) continue;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n == 0) return 1;
  }
  return 0;
}

TEST(tcp_wrong_token_is_refused) {
  fixture f;
  setup(&f);
  CHECK(f.port > 0);
  int fd = dial(&f);
  CHECK(fd >= 0);
  char *r = exchange(&f, fd, "{\"type\":\"hello\",\"trial\":\"00000\",\"token\":\"guess\"}\n");
  CHECK(strstr(r, "\"type\":\"error\"") && strstr(r, "wrong token"));
  CHECK(sees_eof(&f, fd));
  close(fd);
  teardown(&f);
}

TEST(tcp_right_token_reaches_the_trial_check) {
  fixture f;
  setup(&f);
  int fd = dial(&f);
  CHECK(fd >= 0);
  /* past the token: the hello names no trial of this (empty) experiment */
  char *r = exchange(&f, fd, "{\"type\":\"hello\",\"trial\":\"00000\",\"token\":\"secret\"}\n");
  CHECK(strstr(r, "names no trial") != NULL);
  close(fd);
  teardown(&f);
}
