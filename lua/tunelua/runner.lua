-- The engine's side of Lua: loads the experiment file, owns the trial views and calls the
-- scheduler and searcher. The C engine (engine/script.c) calls the functions of this module,
-- each through one protected call; nothing else in Lua talks to C.
local tune = require "tunelua"
local rng = require "tunelua.rng"
local trial_order = require "tunelua.trials"

local type, pairs, ipairs, error, tostring, format = type, pairs, ipairs, error, tostring,
  string.format
local pcall, loadfile, require, setmetatable = pcall, loadfile, require, setmetatable

local ffi_ok, ffi = pcall(require, "ffi")
local clock
if ffi_ok then
  ffi.cdef "double tl_ffi_engine_now(void);"
  local C = ffi.C
  if pcall(function() return C.tl_ffi_engine_now end) then
    clock = function() return C.tl_ffi_engine_now() end
  end
end
clock = clock or os.clock

-- exp.fits asks the engine whether a request fits now (engine/resources.c); outside the
-- binary (specs of the runner alone) everything fits.
local fits_ffi
if ffi_ok then
  ffi.cdef [[
int tl_ffi_resources_fits(double cpu, double gpu, double mem, int n, const char **names,
                          const double *amounts);
]]
  local C = ffi.C
  if pcall(function() return C.tl_ffi_resources_fits end) then
    local names_t, amounts_t = ffi.typeof("const char *[?]"), ffi.typeof("double[?]")
    fits_ffi = function(rq)
      local n = #rq.custom / 2
      if n == 0 then return C.tl_ffi_resources_fits(rq.cpu, rq.gpu, rq.mem, 0, nil, nil) ~= 0 end
      if not rq.c_names then -- built once per request; the strings live in rq.custom
        rq.c_names, rq.c_amounts = names_t(n), amounts_t(n)
        for i = 1, n do
          rq.c_names[i - 1], rq.c_amounts[i - 1] = rq.custom[2 * i - 1], rq.custom[2 * i]
        end
      end
      return C.tl_ffi_resources_fits(rq.cpu, rq.gpu, rq.mem, n, rq.c_names, rq.c_amounts) ~= 0
    end
  end
end

local R = { trials = {} }
local trials = R.trials
local st = {} -- the experiment, its scheduler and searcher, and what they implement

local function usage_error(msg)
  error("tunelua: " .. msg, 0)
end

-- Loads a scheduler or searcher named on the command line: a name in schedulers/ or a path.
-- A scheduler path may also return an object, { scheduler = ... } or an experiment (swap.lua).
local function load_component(kind, what)
  if kind == "scheduler" then
    local ok, obj = pcall(require("tunelua.swap").build, what)
    if not ok then usage_error(tostring(obj):gsub("^tunelua: ", "")) end
    return obj
  end
  local ctor
  if what:match("%.lua$") then
    local chunk, err = loadfile(what)
    if not chunk then usage_error(err) end
    local ok, v = pcall(chunk)
    if not ok then usage_error(tostring(v)) end
    ctor = v
  else
    local ok, v = pcall(require, "schedulers." .. what)
    if not ok and tostring(v):find("module 'schedulers." .. what .. "' not found", 1, true) then
      usage_error(require("tunelua.swap").unknown(kind, what))
    end
    if not ok then usage_error(format("%s '%s': %s", kind, what, tostring(v))) end
    ctor = v
  end
  local callable = type(ctor) == "table" and (getmetatable(ctor) or {}).__call
  if type(ctor) ~= "function" and not callable then
    usage_error(format("%s %s does not return a constructor", kind, what))
  end
  local ok, obj = pcall(ctor, {})
  if not ok then usage_error(tostring(obj)) end
  return obj
end

-- Runs the experiment file and returns the flat table the C engine reads.
function R.load(path, over)
  local chunk, err = loadfile(path)
  if not chunk then usage_error(err) end
  tune.loading = path
  st.path = path
  local ok, exp = pcall(chunk)
  tune.loading = nil
  if not ok then
    exp = tostring(exp)
    usage_error((exp:gsub("^tunelua: ", "")))
  end
  if not tune.is_experiment(exp) then
    usage_error(path .. ": the file must return tune.experiment { ... }")
  end
  if over.scheduler then
    exp.scheduler = exp.schedulers[over.scheduler] or load_component("scheduler", over.scheduler)
  end
  if over.searcher then
    exp.searcher = exp.searchers[over.searcher] or load_component("searcher", over.searcher)
  end
  if over.searcher and (type(exp.searcher) ~= "table"
    or type(exp.searcher.suggest) ~= "function") then
    usage_error(format("'%s' is not a searcher (it has no suggest)", over.searcher))
  end
  st.spec = over.scheduler -- what a SIGHUP without DIR/swap.lua reads again
  local env_budget = os.getenv("TUNELUA_BUDGET")
  if env_budget and env_budget ~= "" then
    local b, why = require("tunelua.budget").parse(env_budget)
    if not b then usage_error("TUNELUA_BUDGET: " .. why) end
    exp.budget = b
  end
  exp.scheduler = exp.scheduler or require("schedulers.fifo")({})
  exp.searcher = exp.searcher or require("schedulers.random")({})
  exp.name = exp.name or over.name or (path:match("([^/]+)%.lua$") or "experiment"):gsub(
    "[^%w_.-]", "_")
  exp.seed = over.seed or exp.seed or over.random_seed
  if over.max_concurrent then exp.max_concurrent = over.max_concurrent end
  local executor = over.executor or exp.executor
  if executor == "simulate" and not exp.simulate then
    usage_error(path .. ": --executor simulate needs trainer.simulate = function(config, " ..
      "iteration, state) in the experiment")
  end
  st.simulate = executor == "simulate" and exp.simulate or nil
  local slurm_set = executor == "slurm" and (exp.slurm or require("tunelua.slurm").new {}) or nil
  if over.address then
    local host, why = require("tunelua.slurm").parse_address(over.address)
    if not host then usage_error(format("--address must be %s, got %s", why, over.address)) end
    if not slurm_set then usage_error("--address is for the slurm executor (--executor slurm)") end
  end
  st.executor = executor == "simulate" and "simulate" or slurm_set and "slurm" or "local"
  -- sample one configuration now, so that a broken sample_from is an experiment error
  local dsl = require "tunelua.dsl"
  local okr, rerr = pcall(dsl.resolve, exp.config, rng.new(exp.seed or 0), dsl.grid(exp.config)[1])
  if not okr then
    usage_error(tostring(rerr))
  end
  st.exp = exp
  local ck = exp.checkpoint
  local shared, names = {}, {}
  for k in pairs(exp.shared) do names[#names + 1] = k end
  table.sort(names)
  for i, k in ipairs(names) do shared[i] = k .. "=" .. exp.shared[k] end
  local score_mode = ck.score_mode or exp.mode
  return {
    name = exp.name, metric = exp.metric, mode = exp.mode, cmd = exp.cmd, env = exp.env,
    cpu = exp.cpu, gpu = exp.gpu, max_concurrent = exp.max_concurrent,
    max_failures = exp.max_failures, stop_grace_s = exp.stop_grace_s, seed = exp.seed,
    reuse = exp.reuse, ckpt_every = ck.every, ckpt_at_end = ck.at_end, ckpt_keep = ck.keep,
    ckpt_score = ck.score, ckpt_score_max = score_mode ~= "min", ckpt_timeout_s = ck.timeout_s,
    shared = shared, simulate = st.simulate ~= nil, trial_timeout = exp.trial_timeout,
    custom_resources = exp.custom_resources, resources_fn = type(exp.resources) == "function",
    slurm = slurm_set ~= nil, slurm_args = slurm_set and require("tunelua.slurm").args(slurm_set),
    slurm_address = over.address or (slurm_set and slurm_set.address),
    tensorboard = exp.logs.tensorboard,
  }
end

-- What a trial asks for: the experiment's trainer.resources, or what its function returns
-- for the trial's config (computed again when an exploit gives the trial a new config).
-- Returns the normalised request, or nil and why it is unusable.
local requests = setmetatable({}, { __mode = "k" })
local function request(view)
  local res = st.exp.resources
  if type(res) ~= "function" then return res end
  local c = requests[view]
  if c and c.config == view.config then return c.rq, c.err end
  local ok, got = pcall(res, view.config)
  local rq, err
  if not ok then
    err = "trainer.resources(config) failed: " .. tostring(got)
  else
    rq, err = require("tunelua.resources").check(got, "trainer.resources(config)")
  end
  requests[view] = { config = view.config, rq = rq, err = err }
  return rq, err
end

-- For the engine (tl_trial_start): the request of trials[index], or nil, why.
function R.resources(index)
  return request(trials[index])
end

-- exp.fits(view): can this trial start now? True as well for a trial that can never run here
-- (or whose request is unusable): choosing it lets the engine fail it at once, with a message.
local function fits(view)
  if not fits_ffi then return true end
  local rq = request(view)
  if not rq then return true end
  return fits_ffi(rq)
end
R.fits = fits

-- exp.stop_trial(view, reason): a scheduler ends a trial that is not running (a PAUSED
-- HyperBand loser). The engine acts on it after the current callback (it is queued: Lua
-- cannot call back into the engine from a callback); a replay ignores it, since the
-- journal already says what became of the trial.
local function stop_trial(view, reason)
  if type(view) ~= "table" or trials[view.index] ~= view then
    error("stop_trial: expects a trial view", 2)
  end
  if view.status ~= "PENDING" and view.status ~= "PAUSED" then
    error("stop_trial: trial " .. view.id .. " is " .. tostring(view.status) ..
      "; a running trial is stopped by returning \"stop\" from on_result", 2)
  end
  if R.replaying then return end
  local why = reason and tostring(reason) or "stopped by the scheduler"
  st.stops[#st.stops + 1] = { view.index, why }
end

-- The queued stop_trial requests, for the engine: index, reason, index, reason, ...
function R.take_stops()
  local s = st.stops
  if #s == 0 then return nil end
  st.stops = {}
  local out = {}
  for _, x in ipairs(s) do
    out[#out + 1], out[#out + 2] = x[1], x[2]
  end
  return out
end

-- exp.replaying reads the runner's flag: true while the journal is replayed (resume, hot swap).
local Context = {
  __index = function(_, k) if k == "replaying" then return R.replaying == true end end,
}

-- exp.warn(msg): "tunelua: warning: msg" on stderr, once per message (a replay repeats them).
local function warner()
  local said = {}
  return function(msg)
    msg = tostring(msg)
    if said[msg] then return end
    said[msg] = true
    io.stderr:write("tunelua: warning: ", msg, "\n")
  end
end

local function context(exp, dir, r)
  return setmetatable({
    metric = exp.metric, mode = exp.mode, space = exp.config, num_samples = exp.num_samples,
    seed = exp.seed, rng = r, trials = trials, now = clock, dir = dir,
    checkpoint = exp.checkpoint, executor = st.executor,
    stop_trial = stop_trial, fits = fits, warn = warner(),
  }, Context)
end

-- A setup() that raises is a mistake in the experiment (missing metric, no checkpoints for
-- PBT): reported as "file:line: scheduler NAME: message", without a traceback.
local function setup(obj, kind, ctx)
  if not obj.setup then return end
  local ok, err = pcall(obj.setup, obj, ctx)
  if not ok then
    local msg = tostring(err):gsub("^[^:]*%.lua:%d+: ", "")
    local path = st.path
    local line = tune.field_line and tune.field_line(path, kind)
    usage_error(format("%s%s: %s %s: %s", path, line and (":" .. line) or "", kind,
      tostring(obj.name), msg))
  end
end

-- Makes sched the experiment's scheduler: probes once which callbacks it defines.
local function install(sched)
  st.sched = sched
  st.on_exhausted = sched.on_searcher_exhausted
  st.choose = sched.choose_trial_to_run and function() return sched:choose_trial_to_run() end
  st.s_add, st.s_complete = sched.on_trial_add, sched.on_trial_complete
  st.s_error = sched.on_trial_error
  if not st.choose then
    -- default: the lowest-numbered PENDING trial that fits now, then the lowest PAUSED one
    -- (tunelua.trials starts past the trials it has walked: no pass over the whole run)
    st.choose = function() return trial_order.fifo(trials, fits) end
  end
end

-- Builds the scheduler and searcher contexts and probes once which callbacks they define.
function R.start(dir)
  local exp = st.exp
  local root = rng.new(exp.seed)
  local sched, search = exp.scheduler, exp.searcher
  st.search = search
  st.stops = {}
  st.dir = dir
  setup(sched, "scheduler", context(exp, dir, root:derive("scheduler")))
  setup(search, "searcher", context(exp, dir, root:derive("searcher")))
  install(sched)
  st.q_result, st.q_complete = search.on_result, search.on_trial_complete
  st.stop = exp.stop
  st.exhausted = false
  st.budget = exp.budget and require("tunelua.budget").tracker(exp.budget, clock)
  st.root = root
  st.sim, st.sim_rng = {}, {}
end

local View = {}
View.__index = View
function View:__tostring() return "trial " .. self.id end

-- The next trial to start: the scheduler's choice, else a new configuration from the searcher.
-- Returns its index (1-based) or nil, "wait" when the searcher waits, and the number of trials.
function R.next()
  if st.budget and st.budget.spent then return nil, nil, #trials end
  local t = st.choose()
  local static = st.exp.resources
  if t == nil and not st.exhausted and type(static) == "table" and fits_ffi
    and not fits_ffi(static) then
    -- a new trial would not fit either: the searcher is asked once resources free up
    return nil, nil, #trials
  end
  if t == nil and not st.exhausted then
    local id = format("%05d", #trials)
    local cfg = st.search:suggest(id)
    if cfg == nil then
      st.exhausted = true
      -- a scheduler that sizes groups of trials (HyperBand's brackets) learns there are no more
      if st.on_exhausted then
        st.on_exhausted(st.sched)
        t = st.choose()
      end
    elseif cfg == "wait" then
      return nil, "wait", #trials
    elseif type(cfg) ~= "table" then
      error(format("searcher %s: suggest returned a %s (want a config table, nil or \"wait\")",
        tostring(st.search.name), type(cfg)))
    else
      local v = setmetatable({ id = id, index = #trials + 1, config = cfg, status = "PENDING",
        iteration = 0 }, View)
      trials[v.index] = v
      if st.s_add then st.s_add(st.sched, v) end
      t = st.choose()
    end
  end
  if t ~= nil and (type(t) ~= "table" or trials[t.index] ~= t) then
    error(format("scheduler %s: choose_trial_to_run returned %s, not a trial view",
      tostring(st.sched.name), tostring(t)))
  end
  return t and t.index, nil, #trials
end

function R.set_status(index, status, iteration)
  local t = trials[index]
  trial_order.set_status(trials, t, status)
  t.iteration = iteration
end

local function deepcopy(v, seen)
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local c = {}
  seen[v] = c
  for k, x in pairs(v) do c[deepcopy(k, seen)] = deepcopy(x, seen) end
  return setmetatable(c, getmetatable(v))
end

local actions = { continue = "continue", stop = "stop", pause = "pause", exploit = "exploit" }

-- The experiment's stop rule (a table of thresholds or a function): "stop" or nil.
local function stop_rule(t, r)
  local stop = st.stop
  if type(stop) == "function" then
    if stop(t, r) then return "stop" end
  elseif stop then
    for k, v in pairs(stop) do
      local x = r[k]
      if type(x) == "number" and x >= v then return "stop" end
    end
  end
  return nil
end

-- Why the experiment ended early, once its budget is spent; nil before.
function R.budget_spent()
  if not (st.budget and st.budget.spent) then return nil end
  return "the experiment's budget is spent (" ..
    require("tunelua.budget").describe(st.budget.budget) .. ")"
end

-- The PENDING and PAUSED trials end once the budget is spent (on a resume, also those that
-- were RUNNING: they would start again as PENDING).
local function stop_waiting(running)
  for _, v in ipairs(trials) do
    if v.status == "PENDING" or v.status == "PAUSED" or (running and v.status == "RUNNING") then
      st.stops[#st.stops + 1] = { v.index, R.budget_spent() }
    end
  end
end

-- Resume: secs of wall time the earlier runs used (from the journal) count against a time
-- budget; a budget spent already ends the waiting trials.
function R.budget_resume(secs)
  if not st.budget then return end
  st.budget:used(not st.simulate and secs or nil) -- the virtual clock went on by itself
  if st.budget.spent then stop_waiting(true) end
end

-- A result arrived (already in trials[index].last_result): the stop rule first, as in Ray
-- Tune, then the scheduler; the searcher hears every result. Returns the action, whether to
-- checkpoint, whether the experiment's stop rule (not the scheduler) decided, and for an
-- exploit ({ exploit = other, config = new }) the other trial's index; the view's config is
-- then already the new one.
function R.on_result(index)
  local t = trials[index]
  local r = t.last_result
  t.iteration = r.training_iteration
  local action = stop_rule(t, r)
  local by_rule = action ~= nil
  if st.budget and st.budget:result() and not action then
    action = "stop" -- the budget is spent: the waiting trials end too, nothing new starts
    by_rule = 2 -- the engine's reason: R.budget_spent()
    if not R.replaying then stop_waiting() end
  end
  local source, checkpoint = nil, false
  if not action then
    local d = st.sched:on_result(t, r)
    if d == nil then d = "continue" end
    if type(d) == "table" and d.exploit == nil then
      -- { action = "continue" | "pause" | "stop", checkpoint = true }: a checkpoint now
      checkpoint = d.checkpoint == true
      d = d.action or "continue"
    elseif type(d) == "table" then
      source = d.exploit
      if type(source) ~= "table" or trials[source.index] ~= source or source == t then
        error(format("scheduler %s: exploit must name another trial view, got %s",
          tostring(st.sched.name), tostring(source)))
      end
      if type(d.config) ~= "table" then
        error(format("scheduler %s: an exploit decision needs config = { ... }",
          tostring(st.sched.name)))
      end
      if not R.replaying then -- a replay takes the new config from the journal
        t.config = d.config
        if st.simulate then st.sim[t.index] = deepcopy(st.sim[source.index] or {}) end
      end
      d = "exploit"
    end
    action = actions[d]
    if not action then
      error(format("scheduler %s: on_result returned %s (want \"continue\", \"pause\", \"stop\"" ..
        " or a decision table)", tostring(st.sched.name), tostring(d)))
    end
  end
  if st.q_result then st.q_result(st.search, t.id, r) end
  return action, checkpoint, by_rule, source and source.index
end

-- The simulate executor. A simulated trainer is trainer.simulate(config, iteration, state, rng):
-- state is the trial's own table, kept across pauses (a pause is a perfect checkpoint) and
-- copied on an exploit; rng is the trial's own stream. It returns the result table, and
-- optionally true (or result.done) when it ends by itself.
local function cost(t, iteration)
  local c = st.exp.iteration_time
  if type(c) == "function" then c = c(t.config, iteration) end
  if type(c) ~= "number" or c < 0 then
    error(format("trainer.iteration_time gave %s for iteration %d (want seconds >= 0)",
      tostring(c), iteration))
  end
  return c
end

function R.sim_start(index)
  local t = trials[index]
  st.sim[index] = st.sim[index] or {}
  st.sim_rng[index] = st.sim_rng[index] or st.root:derive("simulate:" .. t.id)
  return cost(t, t.iteration + 1)
end

function R.simulate(index)
  local t = trials[index]
  local it = t.iteration + 1
  local r, done = st.simulate(t.config, it, st.sim[index], st.sim_rng[index])
  if type(r) ~= "table" then
    error(format("trainer.simulate returned a %s for iteration %d (want a result table)",
      type(r), it))
  end
  if r.done then done = true end
  return r, cost(t, it + 1), done and true or false
end

-- Resume: the journal's trials come back in order. The searcher is asked for each, so its
-- state (counters, random streams) is where it was; the config is the journal's.
function R.replay_add(id, config)
  local index = #trials + 1
  local got = st.search:suggest(id)
  if got == nil and not st.exhausted then
    st.exhausted = true
    if st.on_exhausted then st.on_exhausted(st.sched) end
  end
  local v = setmetatable({ id = id, index = index, config = config, status = "PENDING",
    iteration = 0 }, View)
  trials[index] = v
  if st.s_add then st.s_add(st.sched, v) end
end

function R.set_config(index, config)
  trials[index].config = config
end

-- The engine recorded a checkpoint for a trial (the view's checkpoint is its newest).
function R.set_checkpoint(index, path, iteration)
  local t = trials[index]
  t.checkpoint, t.checkpoint_iteration = path, iteration
end

-- Hot swap (lua/tunelua/swap.lua): a new scheduler, the journal replayed into it, replaces the
-- running one. The engine calls swap_begin, swap_event for each journal line, swap_finish.
local swap_env = { st = st, trials = trials, context = context, install = install,
  stop_rule = stop_rule, runner = R }
function R.swap_begin(dir) return require("tunelua.swap").begin(swap_env, dir) end
function R.swap_event(ev) return require("tunelua.swap").event(swap_env, ev) end
function R.swap_finish(ok) return require("tunelua.swap").finish(swap_env, ok) end

function R.on_complete(index, ok)
  local t = trials[index]
  -- a TERMINATED trial never runs again: its simulated random stream can go (bench B6); its
  -- state stays, an exploit may copy it
  if st.sim_rng and t.status == "TERMINATED" then st.sim_rng[index] = nil end
  if ok then
    if st.s_complete then st.s_complete(st.sched, t, t.last_result) end
    if st.q_complete then st.q_complete(st.search, t.id, t.last_result) end
  else
    if st.s_error then st.s_error(st.sched, t) end
    if st.q_complete then st.q_complete(st.search, t.id, nil, true) end
  end
end

return R
