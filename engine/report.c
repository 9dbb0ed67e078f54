#include "report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

static int fail(const char *fmt, const char *a) {
  fprintf(stderr, "tunelua report: ");
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

int tl_report_main(int argc, char **argv) {
  const char *connect_to = getenv("TUNELUA_CONNECT"), *token = getenv("TUNELUA_TOKEN"),
             *trial = getenv("TUNELUA_TRIAL_ID");
  if (argc < 1) return fail("%s", "usage: tunelua report KEY=VALUE ..."), 2;
  if (!connect_to || !token || !trial)
    return fail("%s", "TUNELUA_CONNECT, TUNELUA_TOKEN and TUNELUA_TRIAL_ID are not set: run this "
                      "from a trainer started by tunelua");
  if (strncmp(connect_to, "unix:", 5) != 0)
    return fail("only unix: connections are supported here, got %s", connect_to);
  cJSON *metrics = cJSON_CreateObject();
  for (int i = 0; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    if (!eq || eq == argv[i]) {
      cJSON_Delete(metrics);
      return fail("expected KEY=VALUE, got \"%s\"", argv[i]), 2;
    }
    char *key = tl_strdup(argv[i]);
    key[eq - argv[i]] = 0;
    cJSON_AddItemToObject(metrics, key, parse_value(eq + 1));
    free(key);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", connect_to + 5);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    cJSON_Delete(metrics);
    return fail("cannot connect to the engine at %s", connect_to + 5);
  }
  tl_buf out, in;
  tl_buf_init(&out), tl_buf_init(&in);
  tl_buf_adds(&out, "{\"type\":\"hello\",\"protocol\":1,\"trial\":");
  tl_buf_add_json_str(&out, trial);
  tl_buf_adds(&out, ",\"token\":");
  tl_buf_add_json_str(&out, token);
  tl_buf_printf(&out, ",\"pid\":%d}\n{\"type\":\"report\",\"metrics\":", (int)getpid());
  char *m = cJSON_PrintUnformatted(metrics);
  tl_buf_adds(&out, m);
  tl_buf_adds(&out, "}\n");
  free(m);
  cJSON_Delete(metrics);
  int rc = 1;
  if (tl_write_all(fd, out.data, out.len) != 0) {
    fail("%s", "the engine closed the connection");
    goto done;
  }
  for (int i = 0; i < 2; i++) {
    char *line = read_line(fd, &in);
    if (!line) {
      fail("%s", "the engine closed the connection");
      goto done;
    }
    cJSON *msg = cJSON_Parse(line);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "type"));
    if (type && strcmp(type, "error") == 0) {
      fail("the engine refused: %s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "message")));
      cJSON_Delete(msg);
      goto done;
    }
    if (type && strcmp(type, "decision") == 0) {
      const char *action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "action"));
      printf("%s\n", action ? action : "continue");
      rc = action && strcmp(action, "continue") != 0 ? 3 : 0;
    }
    cJSON_Delete(msg);
  }
done:
  close(fd);
  tl_buf_free(&out), tl_buf_free(&in);
  return rc;
}
