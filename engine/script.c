#include "script.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <uv.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "exec_slurm.h"
#include "resources.h"
#include "util.h"

typedef struct {
  const char *name;
  const unsigned char *data;
  size_t size;
} tl_embedded_module;
extern const tl_embedded_module tl_embedded_modules[]; /* build/embedded.c */

struct tl_script {
  lua_State *L;
  int runner;  /* registry ref: the runner module */
  int trials;  /* registry ref: runner.trials, the array of trial views */
  int traceback;
  double slow_s; /* a callback that takes longer is reported */
};

/* Message handler: adds a traceback unless the error is a plain experiment error (a string
 * that starts with "tunelua:" is already written for the user). */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if (strncmp(msg, "tunelua:", 8) == 0) {
    lua_pushstring(L, msg + 8 + (msg[8] == ' '));
    return 1;
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int load_embedded(lua_State *L) {
  const tl_embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
  char chunk[256];
  snprintf(chunk, sizeof chunk, "=%s", m->name);
  if (luaL_loadbuffer(L, (const char *)m->data, m->size, chunk) != 0) return lua_error(L);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

/* Calls runner[fn] with nargs arguments already on the stack (below them nothing else of
 * ours); leaves nres results. Returns 0, or -1 with *err set. */
static int call(tl_script *s, const char *fn, int nargs, int nres, char **err) {
  lua_State *L = s->L;
  int base = lua_gettop(L) - nargs;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->runner);
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_insert(L, base + 1);
  lua_insert(L, base + 1);
  uint64_t t0 = uv_hrtime();
  int rc = lua_pcall(L, nargs, nres, base + 1);
  double took = (double)(uv_hrtime() - t0) / 1e9;
  if (took > s->slow_s) {
    /* the engine waits for every callback: a slow one holds up every trial */
    fprintf(stderr, "tunelua: warning: the Lua call runner.%s took %.2f s; the engine and every "
                    "trial waited for it\n", fn, took);
  }
  if (rc != 0) {
    *err = tl_strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown Lua error");
    lua_settop(L, base);
    return -1;
  }
  lua_remove(L, base + 1);
  return 0;
}

tl_script *tl_script_new(const char *lua_dir, char **err) {
  tl_script *s = tl_xcalloc(1, sizeof *s);
  const char *slow = getenv("TUNELUA_SLOW_CALLBACK_S");
  s->slow_s = slow && atof(slow) > 0 ? atof(slow) : 1.0;
  lua_State *L = s->L = luaL_newstate();
  if (!L) {
    *err = tl_strdup("cannot create a Lua state");
    free(s);
    return NULL;
  }
  luaL_openlibs(L);
  /* a GC cycle when the heap has grown by a tenth (LuaJIT's default waits for it to double):
   * the garbage between cycles counts in the engine's peak RSS, per trial (bench B6) */
  lua_gc(L, LUA_GCSETPAUSE, 110);
  lua_pushcfunction(L, traceback);
  s->traceback = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getglobal(L, "package");
  if (lua_dir && *lua_dir) {
    /* development: read lua/ and schedulers/ from a source tree instead of the binary */
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;", lua_dir, lua_dir, lua_dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
  } else {
    lua_getfield(L, -1, "preload");
    for (const tl_embedded_module *m = tl_embedded_modules; m->name; m++) {
      lua_pushlightuserdata(L, (void *)m);
      lua_pushcclosure(L, load_embedded, 1);
      lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->traceback);
  lua_getglobal(L, "require");
  lua_pushstring(L, "tunelua.runner");
  if (lua_pcall(L, 1, 1, -3) != 0) {
    *err = tl_strfmt("loading the Lua runtime: %s", lua_tostring(L, -1));
    lua_close(L);
    free(s);
    return NULL;
  }
  s->runner = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->runner);
  lua_getfield(L, -1, "trials");
  s->trials = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return s;
}

void tl_script_free(tl_script *s) {
  if (!s) return;
  lua_close(s->L);
  free(s);
}

static char *get_str(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  char *v = lua_type(L, -1) == LUA_TSTRING ? tl_strdup(lua_tostring(L, -1)) : NULL;
  lua_pop(L, 1);
  return v;
}

static double get_num(lua_State *L, int t, const char *k, double dflt) {
  lua_getfield(L, t, k);
  double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

static char **get_strv(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  int n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
  char **v = tl_xcalloc((size_t)n + 1, sizeof *v);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, -1, i + 1);
    v[i] = tl_strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return v;
}

int tl_script_load(tl_script *s, tl_engine *e, char **err) {
  lua_State *L = s->L;
  lua_pushstring(L, e->opt.exp_path);
  lua_createtable(L, 0, 6);
  if (e->opt.scheduler) lua_pushstring(L, e->opt.scheduler), lua_setfield(L, -2, "scheduler");
  if (e->opt.searcher) lua_pushstring(L, e->opt.searcher), lua_setfield(L, -2, "searcher");
  if (e->opt.executor) lua_pushstring(L, e->opt.executor), lua_setfield(L, -2, "executor");
  if (e->opt.address) lua_pushstring(L, e->opt.address), lua_setfield(L, -2, "address");
  if (e->opt.seed >= 0) lua_pushnumber(L, (double)e->opt.seed), lua_setfield(L, -2, "seed");
  if (e->opt.name) lua_pushstring(L, e->opt.name), lua_setfield(L, -2, "name");
  lua_pushnumber(L, (double)e->seed), lua_setfield(L, -2, "random_seed");
  if (e->opt.max_concurrent != 0) /* -1: --max-concurrent 0, no cap */
    lua_pushinteger(L, e->opt.max_concurrent > 0 ? e->opt.max_concurrent : 0),
        lua_setfield(L, -2, "max_concurrent");
  if (call(s, "load", 2, 1, err) != 0) return -1;
  int t = lua_gettop(L);
  e->name = get_str(L, t, "name");
  e->metric = get_str(L, t, "metric");
  char *mode = get_str(L, t, "mode");
  e->mode = !mode ? 0 : strcmp(mode, "max") == 0 ? 1 : -1;
  free(mode);
  e->cmd = get_strv(L, t, "cmd");
  e->env = get_strv(L, t, "env");
  e->cpu_per_trial = get_num(L, t, "cpu", 1);
  e->gpu_per_trial = get_num(L, t, "gpu", 0);
  e->max_concurrent = (int)get_num(L, t, "max_concurrent", 0);
  e->max_failures = (int)get_num(L, t, "max_failures", 0);
  e->stop_grace_s = get_num(L, t, "stop_grace_s", 5);
  e->trial_timeout = get_num(L, t, "trial_timeout", 0);
  e->seed = (long)get_num(L, t, "seed", (double)e->seed);
  lua_getfield(L, t, "simulate");
  e->simulate = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, t, "reuse");
  e->reuse = lua_toboolean(L, -1);
  lua_getfield(L, t, "ckpt_at_end");
  e->ckpt_at_end = lua_toboolean(L, -1);
  lua_getfield(L, t, "ckpt_score_max");
  e->ckpt_score_max = lua_toboolean(L, -1);
  lua_pop(L, 3);
  e->ckpt_every = (int)get_num(L, t, "ckpt_every", 0);
  e->ckpt_keep = (int)get_num(L, t, "ckpt_keep", 0);
  e->ckpt_score = get_str(L, t, "ckpt_score");
  e->ckpt_timeout_s = get_num(L, t, "ckpt_timeout_s", 60);
  e->shared = get_strv(L, t, "shared");
  e->custom_resources = get_strv(L, t, "custom_resources");
  if (!e->custom_resources[0]) { /* none declared (the usual case): nothing to own */
    free(e->custom_resources);
    e->custom_resources = NULL;
  }
  lua_getfield(L, t, "tensorboard");
  e->tensorboard = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, t, "resources_fn");
  e->resources_fn = lua_toboolean(L, -1);
  lua_getfield(L, t, "slurm");
  int slurm = lua_toboolean(L, -1);
  lua_pop(L, 2);
  if (slurm) tl_slurm_configure(e, get_strv(L, t, "slurm_args"), get_str(L, t, "slurm_address"));
  lua_pop(L, 1);
  return 0;
}

int tl_script_resources(tl_script *s, int index, tl_request *rq, char **err) {
  lua_State *L = s->L;
  memset(rq, 0, sizeof *rq);
  lua_pushinteger(L, index + 1);
  if (call(s, "resources", 1, 2, err) != 0) return -1;
  if (!lua_istable(L, -2)) {
    *err = tl_strdup(lua_isstring(L, -1) ? lua_tostring(L, -1) : "trainer.resources gave nothing");
    lua_pop(L, 2);
    return 1;
  }
  int t = lua_gettop(L) - 1;
  rq->cpu = get_num(L, t, "cpu", 1);
  rq->gpu = get_num(L, t, "gpu", 0);
  rq->mem = get_num(L, t, "mem", 0);
  rq->nodes = (int)get_num(L, t, "nodes", 1);
  lua_getfield(L, t, "custom"); /* { name, amount, name, amount ... } */
  int n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) / 2 : 0;
  rq->names = tl_xcalloc((size_t)n + 1, sizeof *rq->names);
  rq->amounts = tl_xcalloc((size_t)n + 1, sizeof *rq->amounts);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, -1, 2 * i + 1);
    lua_rawgeti(L, -2, 2 * i + 2);
    rq->names[i] = tl_strdup(lua_tostring(L, -2) ? lua_tostring(L, -2) : "?");
    rq->amounts[i] = lua_tonumber(L, -1);
    lua_pop(L, 2);
  }
  rq->ncustom = n;
  lua_pop(L, 3);
  return 0;
}

int tl_script_start(tl_script *s, tl_engine *e, char **err) {
  lua_pushstring(s->L, e->dir);
  return call(s, "start", 1, 0, err);
}

int tl_script_next(tl_script *s, int *index, int *wait, int *count, char **err) {
  lua_State *L = s->L;
  if (call(s, "next", 0, 3, err) != 0) return -1;
  *index = lua_isnumber(L, -3) ? (int)lua_tointeger(L, -3) - 1 : -1;
  *wait = lua_isstring(L, -2) && strcmp(lua_tostring(L, -2), "wait") == 0;
  *count = (int)lua_tointeger(L, -1);
  lua_pop(L, 3);
  return 0;
}

typedef struct {
  char *name;
  double num;
  int isnum;
} json_key;

static int by_name(const void *a, const void *b) {
  return strcmp(((const json_key *)a)->name, ((const json_key *)b)->name);
}

/* Lua value at idx -> cJSON. Arrays are tables whose keys are exactly 1..n (n > 0). */
/* Object keys of configs and results, kept once for the whole run: every trial has the same
 * few names, and a key of its own would cost each trial a malloc per key (bench B6). Short
 * names only, and at most INTERN_MAX of them; NULL when a name is not kept (copy it then). */
#define INTERN_MAX 4096
static const char *intern(const char *name) {
  static char **slot;
  static size_t cap, used;
  size_t len = strlen(name);
  if (len > 48) return NULL;
  if (!cap) cap = 2 * INTERN_MAX, slot = tl_xcalloc(cap, sizeof *slot);
  size_t h = 5381;
  for (size_t i = 0; i < len; i++) h = h * 33 + (unsigned char)name[i];
  for (size_t i = h % cap;; i = (i + 1) % cap) {
    if (!slot[i]) {
      if (used == INTERN_MAX) return NULL;
      used++;
      return slot[i] = tl_strdup(name);
    }
    if (strcmp(slot[i], name) == 0) return slot[i];
  }
}

static cJSON *to_json(lua_State *L, int idx, int depth, char **err) {
  if (depth > 64) {
    *err = tl_strdup("config nests deeper than 64 levels (a cycle?)");
    return NULL;
  }
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return cJSON_CreateNull();
  case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
  case LUA_TNUMBER: {
    double v = lua_tonumber(L, idx);
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
  }
  case LUA_TSTRING: return cJSON_CreateString(lua_tostring(L, idx));
  case LUA_TTABLE: {
    size_t n = lua_objlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) count++, lua_pop(L, 1);
    cJSON *out;
    if (n > 0 && count == n) {
      out = cJSON_CreateArray();
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        cJSON *v = to_json(L, -1, depth + 1, err);
        lua_pop(L, 1);
        if (!v) return cJSON_Delete(out), NULL;
        cJSON_AddItemToArray(out, v);
      }
      return out;
    }
    /* keys in sorted order, so the same config always prints the same JSON */
    json_key *keys = tl_xcalloc(count ? count : 1, sizeof *keys);
    size_t nk = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TSTRING) {
        keys[nk].name = tl_strdup(lua_tostring(L, -1));
      } else if (lua_type(L, -1) == LUA_TNUMBER) {
        keys[nk].num = lua_tonumber(L, -1);
        keys[nk].isnum = 1;
        keys[nk].name = tl_strfmt("%.17g", keys[nk].num);
      } else {
        *err = tl_strdup("config has a key that is neither a string nor a number");
        lua_pop(L, 1);
        break;
      }
      nk++;
    }
    out = *err ? NULL : cJSON_CreateObject();
    qsort(keys, nk, sizeof *keys, by_name);
    for (size_t i = 0; i < nk && out; i++) {
      if (keys[i].isnum) lua_pushnumber(L, keys[i].num);
      else lua_pushstring(L, keys[i].name);
      lua_rawget(L, idx);
      cJSON *v = to_json(L, -1, depth + 1, err);
      lua_pop(L, 1);
      const char *kept = v ? intern(keys[i].name) : NULL;
      if (!v) cJSON_Delete(out), out = NULL;
      else if (kept) cJSON_AddItemToObjectCS(out, kept, v);
      else cJSON_AddItemToObject(out, keys[i].name, v);
    }
    for (size_t i = 0; i < nk; i++) free(keys[i].name);
    free(keys);
    return out;
  }
  default:
    *err = tl_strfmt("config holds a %s value, which cannot be sent to the trainer",
                     luaL_typename(L, idx));
    return NULL;
  }
}

int tl_script_trial(tl_script *s, int index, char **id, cJSON **config, char **err) {
  lua_State *L = s->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->trials);
  lua_rawgeti(L, -1, index + 1);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 2);
    *err = tl_strfmt("no trial view at index %d", index + 1);
    return -1;
  }
  lua_getfield(L, -1, "id");
  *id = tl_strdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, -1, "config");
  *config = to_json(L, -1, 0, err);
  lua_pop(L, 3);
  if (!*config || !*id) {
    free(*id);
    if (!*err) *err = tl_strdup("trial view without id or config");
    return -1;
  }
  return 0;
}

int tl_script_status(tl_script *s, int index, const char *status, long iteration, char **err) {
  lua_pushinteger(s->L, index + 1);
  lua_pushstring(s->L, status);
  lua_pushnumber(s->L, (double)iteration);
  return call(s, "set_status", 3, 0, err);
}

/* Writes a cJSON value onto the Lua stack; nested objects get fresh tables. */
static void push_json(lua_State *L, const cJSON *v) {
  if (cJSON_IsNumber(v)) {
    lua_pushnumber(L, v->valuedouble);
  } else if (cJSON_IsString(v)) {
    lua_pushstring(L, v->valuestring);
  } else if (cJSON_IsBool(v)) {
    lua_pushboolean(L, cJSON_IsTrue(v));
  } else if (cJSON_IsArray(v)) {
    lua_createtable(L, cJSON_GetArraySize(v), 0);
    int i = 1;
    for (const cJSON *c = v->child; c; c = c->next, i++) push_json(L, c), lua_rawseti(L, -2, i);
  } else if (cJSON_IsObject(v)) {
    lua_createtable(L, 0, 4);
    for (const cJSON *c = v->child; c; c = c->next) {
      if (cJSON_IsNull(c)) continue;
      push_json(L, c);
      lua_setfield(L, -2, c->string);
    }
  } else {
    lua_pushnil(L);
  }
}

/* The result goes into the trial view's last_result table, cleared and refilled in place, so
 * a result costs no new top-level table. */
int tl_script_result(tl_script *s, int index, const cJSON *result, const char **action,
                     int *checkpoint, int *by_rule, int *source, char **err) {
  lua_State *L = s->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->trials);
  lua_rawgeti(L, -1, index + 1);
  lua_getfield(L, -1, "last_result");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 8);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "last_result");
  }
  int t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, t);
  }
  for (const cJSON *c = result->child; c; c = c->next) {
    if (cJSON_IsNull(c)) continue;
    push_json(L, c);
    lua_setfield(L, t, c->string);
  }
  lua_pop(L, 3);
  lua_pushinteger(L, index + 1);
  if (call(s, "on_result", 1, 4, err) != 0) return -1;
  *source = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) - 1 : -1;
  *by_rule = lua_isnumber(L, -2) ? (int)lua_tointeger(L, -2) : lua_toboolean(L, -2);
  lua_pop(L, 2);
  const char *a = lua_tostring(L, -2);
  static const char *known[] = {"stop", "pause", "exploit"};
  *action = "continue";
  for (size_t i = 0; a && i < sizeof known / sizeof *known; i++)
    if (strcmp(a, known[i]) == 0) *action = known[i];
  *checkpoint = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return 0;
}

int tl_script_checkpoint(tl_script *s, int index, const char *path, long iteration, char **err) {
  lua_pushinteger(s->L, index + 1);
  lua_pushstring(s->L, path);
  lua_pushnumber(s->L, (double)iteration);
  return call(s, "set_checkpoint", 3, 0, err);
}

int tl_script_sim_start(tl_script *s, int index, double *cost, char **err) {
  lua_pushinteger(s->L, index + 1);
  if (call(s, "sim_start", 1, 1, err) != 0) return -1;
  *cost = lua_tonumber(s->L, -1);
  lua_pop(s->L, 1);
  return 0;
}

int tl_script_simulate(tl_script *s, int index, cJSON **result, double *cost, int *done,
                       char **err) {
  lua_State *L = s->L;
  lua_pushinteger(L, index + 1);
  if (call(s, "simulate", 1, 3, err) != 0) return -1;
  *cost = lua_tonumber(L, -2);
  *done = lua_toboolean(L, -1);
  *result = to_json(L, -3, 0, err);
  lua_pop(L, 3);
  if (*result && !cJSON_IsObject(*result)) {
    cJSON_Delete(*result);
    *result = NULL;
    *err = tl_strdup("the result must be a table of named values");
  }
  return *result ? 0 : -1;
}

int tl_script_complete(tl_script *s, int index, int ok, char **err) {
  lua_pushinteger(s->L, index + 1);
  lua_pushboolean(s->L, ok);
  return call(s, "on_complete", 2, 0, err);
}

/* Resume: a trial the journal says was added, with its config; the searcher is asked for it
 * too, so that its state follows the same path as in the first run. */
int tl_script_replay_add(tl_script *s, const char *id, const cJSON *config, char **err) {
  lua_pushstring(s->L, id);
  push_json(s->L, config);
  return call(s, "replay_add", 2, 0, err);
}

/* Resume: a journaled result goes to the stop rule, scheduler and searcher, whose decisions
 * are not acted on (the journal says what followed). */
int tl_script_replay_result(tl_script *s, int index, const cJSON *result, char **err) {
  const char *action;
  int checkpoint, by_rule, source;
  lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->runner);
  lua_getfield(s->L, -1, "replaying");
  int was = lua_toboolean(s->L, -1);
  lua_pop(s->L, 1);
  lua_pushboolean(s->L, 1);
  lua_setfield(s->L, -2, "replaying");
  int rc = tl_script_result(s, index, result, &action, &checkpoint, &by_rule, &source, err);
  lua_pushboolean(s->L, was);
  lua_setfield(s->L, -2, "replaying");
  lua_pop(s->L, 1);
  return rc;
}

int tl_script_set_config(tl_script *s, int index, const cJSON *config, char **err) {
  lua_pushinteger(s->L, index + 1);
  push_json(s->L, config);
  return call(s, "set_config", 2, 0, err);
}

char *tl_script_budget_spent(tl_script *s) {
  char *err = NULL;
  if (!s || call(s, "budget_spent", 0, 1, &err) != 0) {
    free(err);
    return NULL;
  }
  char *why = lua_isstring(s->L, -1) ? tl_strdup(lua_tostring(s->L, -1)) : NULL;
  lua_pop(s->L, 1);
  return why;
}

int tl_script_budget_resume(tl_script *s, double secs, char **err) {
  lua_pushnumber(s->L, secs);
  return call(s, "budget_resume", 1, 0, err);
}

int tl_script_take_stops(tl_script *s, int **index, char ***reason, int *n, char **err) {
  lua_State *L = s->L;
  *n = 0;
  if (call(s, "take_stops", 0, 1, err) != 0) return -1;
  if (lua_istable(L, -1)) {
    int len = (int)lua_objlen(L, -1) / 2;
    *index = tl_xcalloc((size_t)len + 1, sizeof **index);
    *reason = tl_xcalloc((size_t)len + 1, sizeof **reason);
    for (int i = 0; i < len; i++) {
      lua_rawgeti(L, -1, 2 * i + 1);
      (*index)[i] = (int)lua_tointeger(L, -1) - 1;
      lua_rawgeti(L, -2, 2 * i + 2);
      (*reason)[i] = tl_strdup(lua_tostring(L, -1));
      lua_pop(L, 2);
    }
    *n = len;
  }
  lua_pop(L, 1);
  return 0;
}

/* Resume: exp.replaying is true for the whole replay of the journal (not only its results). */
void tl_script_replaying(tl_script *s, int on) {
  lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->runner);
  lua_pushboolean(s->L, on);
  lua_setfield(s->L, -2, "replaying");
  lua_pop(s->L, 1);
}

/* Hot swap (engine/swap.c, lua/tunelua/swap.lua): builds the new scheduler; *name, *source and
 * *file (NULL for a built-in name) are owned by the caller. */
int tl_script_swap_begin(tl_script *s, const char *dir, char **name, char **source, char **file,
                         char **err) {
  lua_State *L = s->L;
  lua_pushstring(L, dir);
  if (call(s, "swap_begin", 1, 3, err) != 0) return -1;
  *name = tl_strdup(lua_tostring(L, -3) ? lua_tostring(L, -3) : "?");
  *source = tl_strdup(lua_tostring(L, -2) ? lua_tostring(L, -2) : "?");
  *file = lua_isstring(L, -1) ? tl_strdup(lua_tostring(L, -1)) : NULL;
  lua_pop(L, 3);
  return 0;
}

/* One journal line into the scheduler being swapped in. */
int tl_script_swap_event(tl_script *s, const cJSON *ev, char **err) {
  push_json(s->L, ev);
  return call(s, "swap_event", 1, 0, err);
}

/* ok: the new scheduler replaces the old one; otherwise it is dropped. */
int tl_script_swap_finish(tl_script *s, int ok, char **err) {
  lua_pushboolean(s->L, ok);
  return call(s, "swap_finish", 1, 0, err);
}

/* A command written in Lua (`tunelua compare`): require(module).main(args) in a fresh state
 * with the embedded runtime (or lua_dir's). main prints its own messages and returns the exit
 * code; an error it raises is a bug, reported with its traceback (exit 1). */
int tl_script_main(const char *module, const char *lua_dir, int argc, char **argv) {
  char *err = NULL;
  tl_script *s = tl_script_new(lua_dir, &err);
  if (!s) {
    fprintf(stderr, "tunelua: %s\n", err);
    free(err);
    return 1;
  }
  lua_State *L = s->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->traceback);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  int rc = lua_pcall(L, 1, 1, handler);
  if (rc == 0) {
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]), lua_rawseti(L, -2, i + 1);
    rc = lua_pcall(L, 1, 1, handler);
  }
  int code = 1;
  if (rc != 0)
    fprintf(stderr, "tunelua: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "Lua error");
  else
    code = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  tl_script_free(s);
  return code;
}
