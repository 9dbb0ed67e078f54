/* The shell trainer client: `tunelua report|params|restore|checkpoint-dir|checkpoint|shared`.
 * Each command (but checkpoint-dir) is one connection to the engine: hello, welcome, at most
 * one request, then close without `done` (docs/protocol.md, "tunelua report" and "Shell
 * trainers" in docs/trainers.md). Without TUNELUA_CONNECT they run by hand from
 * TUNELUA_PARAMS (hand_welcome). */
#include "report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* The command being run, for messages ("tunelua report: ..."). */
static const char *g_cmd = "report";

static int fail(const char *fmt, const char *a) {
  fprintf(stderr, "tunelua %s: ", g_cmd);
  fprintf(stderr, fmt, a);
  fputc('\n', stderr);
  return 1;
}

/* Reads one line (the reply) from the socket; NULL on EOF or error. */
static char *read_line(int fd, tl_buf *b) {
  tl_buf_reset(b);
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return NULL;
    if (c == '\n') return b->data ? b->data : (tl_buf_add(b, "", 0), b->data);
    tl_buf_addc(b, c);
    if (b->len > (1u << 20)) return NULL;
  }
}

/* KEY=VALUE: the value is a JSON number, true, false or null when it parses as one, else a string. */
static cJSON *parse_value(const char *v) {
  cJSON *j = cJSON_Parse(v);
  if (j && (cJSON_IsNumber(j) || cJSON_IsBool(j) || cJSON_IsNull(j))) return j;
  cJSON_Delete(j);
  return cJSON_CreateString(v);
}

/* Connects to TUNELUA_CONNECT (unix:PATH or tcp:HOST:PORT); -1 after a message. */
static int connect_engine(const char *to) {
  if (strncmp(to, "unix:", 5) == 0) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", to + 5);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
      if (fd >= 0) close(fd);
      return fail("cannot connect to the engine at %s", to + 5), -1;
    }
    return fd;
  }
  if (strncmp(to, "tcp:", 4) == 0) {
    char *host = tl_strdup(to + 4), *colon = strrchr(host, ':');
    if (!colon || colon == host || !colon[1]) {
      free(host);
      return fail("TUNELUA_CONNECT=%s is not tcp:HOST:PORT", to), -1;
    }
    *colon = 0;
    char *h = host;
    size_t hl = strlen(h);
    if (h[0] == '[' && h[hl - 1] == ']') h[hl - 1] = 0, h++;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int fd = -1;
    if (getaddrinfo(h, colon + 1, &hints, &res) == 0) {
      for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) close(fd), fd = -1;
      }
      freeaddrinfo(res);
    }
    free(host);
    if (fd < 0) return fail("cannot connect to the engine at %s", to + 4), -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  return fail("TUNELUA_CONNECT must be unix:PATH or tcp:HOST:PORT, got %s", to), -1;
}

typedef struct {
  int fd;
  tl_buf in;
} session;

/* Reads the next message; NULL after a message on stderr (EOF, malformed, engine error). */
static cJSON *recv_msg(session *s) {
  char *line = read_line(s->fd, &s->in);
  if (!line) return fail("%s", "the engine closed the connection"), NULL;
  cJSON *msg = cJSON_Parse(line);
  const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "type"));
  if (!type) {
    cJSON_Delete(msg);
    return fail("malformed message from the engine: %.200s", line), NULL;
  }
  if (strcmp(type, "error") == 0) {
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "message"));
    fail("the engine refused: %s", m ? m : "(no message)");
    cJSON_Delete(msg);
    return NULL;
  }
  return msg;
}

static int send_line(session *s, tl_buf *out) {
  if (tl_write_all(s->fd, out->data, out->len) != 0)
    return fail("%s", "the engine closed the connection"), -1;
  return 0;
}

/* Connects and says hello; returns the welcome (the caller deletes it) or NULL after a
 * message on stderr. */
static cJSON *hello(session *s) {
  const char *connect_to = getenv("TUNELUA_CONNECT"), *token = getenv("TUNELUA_TOKEN"),
             *trial = getenv("TUNELUA_TRIAL_ID");
  s->fd = -1;
  tl_buf_init(&s->in);
  if (!connect_to || !token || !trial)
    return fail("%s", "TUNELUA_CONNECT, TUNELUA_TOKEN and TUNELUA_TRIAL_ID are not set: run "
                      "this from a trainer started by tunelua"),
           NULL;
  if ((s->fd = connect_engine(connect_to)) < 0) return NULL;
  tl_buf out;
  tl_buf_init(&out);
  tl_buf_adds(&out, "{\"type\":\"hello\",\"protocol\":1,\"trial\":");
  tl_buf_add_json_str(&out, trial);
  tl_buf_adds(&out, ",\"token\":");
  tl_buf_add_json_str(&out, token);
  tl_buf_printf(&out, ",\"pid\":%d,\"api\":\"function\"}\n", (int)getpid());
  int rc = send_line(s, &out);
  tl_buf_free(&out);
  cJSON *w = rc == 0 ? recv_msg(s) : NULL;
  if (w && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(w, "config"))) {
    fail("%s", "expected a welcome with a config from the engine");
    cJSON_Delete(w);
    w = NULL;
  }
  return w;
}

/* Run by hand (no TUNELUA_CONNECT), as the Python, C and Lua clients are: the welcome
 * comes from TUNELUA_PARAMS (the config, a JSON object), TUNELUA_RESTORE and TUNELUA_SHARED
 * (a JSON object of name -> path); reports are printed on stderr and always continue
 * (docs/trainers.md, "Running a trainer by hand"). */
static int by_hand(void) {
  const char *c = getenv("TUNELUA_CONNECT");
  return !c || !*c;
}

/* The JSON object in environment variable name; NULL when unset (*bad 0) or after a
 * message on stderr (*bad 1). */
static cJSON *env_object(const char *name, int *bad) {
  const char *raw = getenv(name);
  *bad = 0;
  if (!raw) return NULL;
  cJSON *v = cJSON_Parse(raw);
  if (!cJSON_IsObject(v)) {
    cJSON_Delete(v);
    *bad = 1;
    return fail("%s must be a JSON object, e.g. '{\"lr\": 0.01}'", name), NULL;
  }
  return v;
}

static cJSON *hand_welcome(session *s) {
  s->fd = -1;
  tl_buf_init(&s->in);
  int bad;
  cJSON *config = env_object("TUNELUA_PARAMS", &bad);
  if (!config) {
    if (!bad)
      fail("%s", "TUNELUA_CONNECT is not set: run this from a trainer started by tunelua, or "
                 "by hand with the config as JSON in TUNELUA_PARAMS, e.g. "
                 "TUNELUA_PARAMS='{\"lr\": 0.01}' sh train.sh");
    return NULL;
  }
  cJSON *shared = env_object("TUNELUA_SHARED", &bad);
  if (bad) {
    cJSON_Delete(config);
    return NULL;
  }
  cJSON *w = cJSON_CreateObject();
  cJSON_AddItemToObject(w, "config", config);
  cJSON_AddItemToObject(w, "shared", shared ? shared : cJSON_CreateObject());
  const char *restore = getenv("TUNELUA_RESTORE");
  if (restore && *restore) cJSON_AddStringToObject(w, "restore", restore);
  return w;
}

static cJSON *welcome(session *s) { return by_hand() ? hand_welcome(s) : hello(s); }

static void end_session(session *s) {
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  tl_buf_free(&s->in);
}

/* `tunelua report KEY=VALUE ...`: prints the action (and " checkpoint" when asked);
 * exit 0 continue, 3 stop/pause, 1 error, 2 usage. */
static int report_main(int argc, char **argv) {
  if (argc < 1) return fail("%s", "usage: tunelua report KEY=VALUE ..."), 2;
  cJSON *metrics = cJSON_CreateObject();
  for (int i = 0; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    if (!eq || eq == argv[i]) {
      cJSON_Delete(metrics);
      return fail("expected KEY=VALUE, got \"%s\"", argv[i]), 2;
    }
    char *key = tl_strdup(argv[i]);
    key[eq - argv[i]] = 0;
    cJSON_DeleteItemFromObjectCaseSensitive(metrics, key); /* the last value wins */
    cJSON_AddItemToObject(metrics, key, parse_value(eq + 1));
    free(key);
  }
  session s;
  cJSON *w = welcome(&s);
  int rc = 1;
  if (w && s.fd < 0) { /* by hand */
    char *m = tl_json_print(metrics);
    fprintf(stderr, "[tunelua] report %s\n", m);
    free(m);
    printf("continue\n");
    rc = 0;
  } else if (w) {
    tl_buf out;
    tl_buf_init(&out);
    tl_buf_adds(&out, "{\"type\":\"report\",\"metrics\":");
    char *m = tl_json_print(metrics);
    tl_buf_adds(&out, m);
    tl_buf_adds(&out, "}\n");
    free(m);
    cJSON *d = send_line(&s, &out) == 0 ? recv_msg(&s) : NULL;
    tl_buf_free(&out);
    const char *action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "action"));
    if (d && !action) {
      fail("%s", "expected a decision from the engine");
    } else if (d) {
      int ck = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "checkpoint"));
      printf("%s%s\n", action, ck ? " checkpoint" : "");
      rc = strcmp(action, "continue") != 0 ? 3 : 0;
    }
    cJSON_Delete(d);
  }
  cJSON_Delete(w);
  cJSON_Delete(metrics);
  end_session(&s);
  return rc;
}

/* The item at a dotted path (array elements by index) of v, or NULL. */
static cJSON *get_path(cJSON *v, const char *path) {
  char *p = tl_strdup(path), *save = NULL;
  for (char *seg = strtok_r(p, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save)) {
    if (cJSON_IsArray(v)) {
      char *end;
      long i = strtol(seg, &end, 10);
      v = *seg && !*end && i >= 0 ? cJSON_GetArrayItem(v, (int)i) : NULL;
    } else {
      v = cJSON_GetObjectItemCaseSensitive(v, seg);
    }
  }
  free(p);
  return v;
}

/* Prints a value: strings raw, anything else as compact JSON. */
static void print_value(cJSON *v) {
  if (cJSON_IsString(v)) {
    printf("%s\n", v->valuestring);
  } else {
    char *s = tl_json_print(v);
    printf("%s\n", s);
    free(s);
  }
}

/* `tunelua params [PATH]`, `tunelua restore`, `tunelua shared NAME`: read the welcome. */
static int welcome_main(const char *what, int argc, char **argv) {
  int is_params = strcmp(what, "params") == 0, is_shared = strcmp(what, "shared") == 0;
  int max = is_params ? 1 : is_shared ? 1 : 0, min = is_shared ? 1 : 0;
  if (argc < min || argc > max)
    return fail("%s", is_params   ? "usage: tunelua params [PATH]"
                      : is_shared ? "usage: tunelua shared NAME"
                                  : "usage: tunelua restore"),
           2;
  session s;
  cJSON *w = welcome(&s);
  int rc = 1;
  if (w) {
    cJSON *v = NULL;
    if (is_params) {
      v = cJSON_GetObjectItemCaseSensitive(w, "config");
      if (argc == 1 && !(v = get_path(v, argv[0]))) fail("the config has no %s", argv[0]);
    } else if (is_shared) {
      v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(w, "shared"), argv[0]);
      if (!cJSON_IsString(v)) v = NULL, fail("the experiment shares no object named %s", argv[0]);
    } else {
      v = cJSON_GetObjectItemCaseSensitive(w, "restore");
      if (!cJSON_IsString(v) || !*v->valuestring) v = NULL; /* a fresh start: print nothing */
    }
    if (v) print_value(v), rc = 0;
  }
  cJSON_Delete(w);
  end_session(&s);
  return rc;
}

/* `tunelua checkpoint-dir`: makes $TUNELUA_TRIAL_DIR/checkpoints/tmp-<pid>-<n> and prints it. */
static int checkpoint_dir_main(int argc) {
  if (argc != 0) return fail("%s", "usage: tunelua checkpoint-dir"), 2;
  const char *dir = getenv("TUNELUA_TRIAL_DIR");
  char cwd[PATH_MAX];
  if ((!dir || !*dir) && by_hand() && getenv("TUNELUA_PARAMS") && getcwd(cwd, sizeof cwd))
    dir = cwd; /* by hand */
  if (!dir || !*dir)
    return fail("%s", "TUNELUA_TRIAL_DIR is not set: run this from a trainer started by tunelua");
  char *base = tl_strfmt("%s/checkpoints", dir);
  int err = tl_mkdirs(base);
  if (err != 0) {
    fail("cannot make %s", base);
    free(base);
    return 1;
  }
  for (int n = 1; n < 10000; n++) {
    char *p = tl_strfmt("%s/tmp-%d-%d", base, (int)getpid(), n);
    if (mkdir(p, 0777) == 0) {
      printf("%s\n", p);
      free(p), free(base);
      return 0;
    }
    int e = errno;
    if (e != EEXIST) {
      fprintf(stderr, "tunelua checkpoint-dir: cannot make %s: %s\n", p, strerror(e));
      free(p), free(base);
      return 1;
    }
    free(p);
  }
  free(base);
  return fail("%s", "cannot make a checkpoint directory");
}

/* `tunelua checkpoint DIR`: records DIR with the engine and prints its final path. */
static int checkpoint_main(int argc, char **argv) {
  if (argc != 1) return fail("%s", "usage: tunelua checkpoint DIR"), 2;
  char abs[PATH_MAX];
  struct stat st;
  if (!realpath(argv[0], abs) || stat(abs, &st) != 0 || !S_ISDIR(st.st_mode))
    return fail("%s is not an existing directory", argv[0]);
  session s;
  cJSON *w = welcome(&s);
  int rc = 1;
  if (w && s.fd < 0) { /* by hand: nothing to record it with; the path, made absolute */
    fprintf(stderr, "[tunelua] checkpoint %s\n", abs);
    printf("%s\n", abs), rc = 0;
  } else if (w) {
    tl_buf out;
    tl_buf_init(&out);
    tl_buf_adds(&out, "{\"type\":\"checkpoint\",\"path\":");
    tl_buf_add_json_str(&out, abs);
    tl_buf_adds(&out, "}\n");
    cJSON *r = send_line(&s, &out) == 0 ? recv_msg(&s) : NULL;
    tl_buf_free(&out);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "type"));
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "path"));
    if (r && (!type || strcmp(type, "checkpoint_ok") != 0 || !path))
      fail("%s", "expected checkpoint_ok from the engine");
    else if (r)
      printf("%s\n", path), rc = 0;
    cJSON_Delete(r);
  }
  cJSON_Delete(w);
  end_session(&s);
  return rc;
}

int tl_report_main(int argc, char **argv) {
  g_cmd = "report";
  return report_main(argc, argv);
}

int tl_client_main(const char *cmd, int argc, char **argv) {
  g_cmd = cmd;
  if (strcmp(cmd, "report") == 0) return report_main(argc, argv);
  if (strcmp(cmd, "params") == 0 || strcmp(cmd, "restore") == 0 || strcmp(cmd, "shared") == 0)
    return welcome_main(cmd, argc, argv);
  if (strcmp(cmd, "checkpoint-dir") == 0) return checkpoint_dir_main(argc);
  if (strcmp(cmd, "checkpoint") == 0) return checkpoint_main(argc, argv);
  return fail("%s", "unknown command"), 2;
}
