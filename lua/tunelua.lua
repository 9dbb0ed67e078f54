-- The module experiment files see: `local tune = require "tunelua"`.
-- It re-exports the search-space DSL, names the schedulers and searchers, and validates the
-- experiment table so that a mistake is reported with the file, line and field.
local dsl = require "tunelua.dsl"
local resources = require "tunelua.resources"
local slurm = require "tunelua.slurm"

local type, pairs, ipairs, error, tostring = type, pairs, ipairs, error, tostring
local setmetatable, getmetatable, pcall, require = setmetatable, getmetatable, pcall, require
local format, floor = string.format, math.floor

local M = { version = "0.1.0" }

for _, name in ipairs {
  "uniform", "quniform", "loguniform", "qloguniform", "randn", "qrandn", "randint", "qrandint",
  "lograndint", "qlograndint", "choice", "grid_search", "sample_from",
} do
  M[name] = dsl[name]
end

-- `tune.schedulers.asha` and `tune.searchers.tpe` load schedulers/<name>.lua on first use and
-- hand back its constructor, so its option errors point at the user's line.
local function registry(kind)
  return setmetatable({}, {
    __index = function(_, name)
      local ok, ctor = pcall(require, "schedulers." .. tostring(name))
      if not ok then
        local missing = "module 'schedulers." .. tostring(name) .. "' not found"
        if tostring(ctor):find(missing, 1, true) then
          error(format("unknown %s '%s'", kind, tostring(name)), 2)
        end
        error(ctor, 0)
      end
      return ctor
    end,
  })
end
M.schedulers = registry("scheduler")
M.searchers = registry("searcher")

local Experiment = {}
M.Experiment = Experiment

local fields = {
  name = true, trainer = true, config = true, num_samples = true, metric = true, mode = true,
  stop = true, scheduler = true, searcher = true, max_failures = true, max_concurrent = true,
  checkpoint = true, seed = true, executor = true, trial_timeout = true, custom_resources = true,
  logs = true,
  budget = true, schedulers = true, searchers = true,
}
local trainer_fields = { cmd = true, resources = true, env = true, stop_grace_s = true,
  reuse = true, simulate = true, iteration_time = true }
local checkpoint_fields = { every = true, at_end = true, keep = true, score = true,
  score_mode = true, timeout_s = true }
local logs_fields = { tensorboard = true }

local function is_count(v, min)
  return type(v) == "number" and v == floor(v) and v >= min
end

-- The line of the experiment file that sets `name = ...`, searching from line `from`: the
-- usual `return tune.experiment { ... }` is a tail call, which leaves no frame to ask.
local function field_line(path, name, from)
  local f = path and io.open(path, "r")
  if not f then return nil end
  local n, found, call = 0, nil, nil
  local pat = "%f[%w_]" .. name:gsub("%p", "%%%0") .. "%s*="
  for line in f:lines() do
    n = n + 1
    if not call and line:find("experiment%s*[{(]") then call = n end
    if n >= (from or call or 1) and line:find(pat) then
      found = n
      break
    end
  end
  f:close()
  return found or from or call
end

M.field_line = field_line

-- Checks the experiment table and fills defaults. Errors read "file:line: field: problem",
-- the line being that of the offending field where it can be found.
function M.experiment(spec)
  local info = debug.getinfo(2, "Sl")
  local path, from = M.loading, nil
  if info and info.what ~= "C" and info.currentline and info.currentline > 0 then
    path, from = info.short_src, info.currentline
  end
  local function fail(fmt, ...)
    local msg = format(fmt, ...)
    local name = msg:match("^unknown field '([^']+)'") or msg:match("^([%w_.]+)")
    name = name and name:match("([%w_]+)$")
    local line = name and field_line(path, name, from) or from
    local where = (path or "experiment") .. (line and (":" .. line) or "")
    error("tunelua: " .. where .. ": " .. msg, 0)
  end
  if type(spec) ~= "table" then fail("tune.experiment expects a table, got %s", type(spec)) end
  for k in pairs(spec) do
    if not fields[k] then fail("unknown field '%s' in the experiment", tostring(k)) end
  end
  local e = setmetatable({}, Experiment)
  if spec.name ~= nil and (type(spec.name) ~= "string" or not spec.name:match("^[%w_.-]+$")) then
    fail("name must be a string of letters, digits, '_', '-' or '.', got %s", tostring(spec.name))
  end
  e.name = spec.name

  local tr = spec.trainer
  if type(tr) ~= "table" then fail("trainer must be a table with a cmd, got %s", type(tr)) end
  for k in pairs(tr) do
    if not trainer_fields[k] then fail("unknown field 'trainer.%s'", tostring(k)) end
  end
  if tr.simulate ~= nil and type(tr.simulate) ~= "function" then
    fail("trainer.simulate must be a function(config, iteration, state, rng) -> result")
  end
  local it = tr.iteration_time
  if it ~= nil and type(it) ~= "function" and (type(it) ~= "number" or it < 0) then
    fail("trainer.iteration_time must be seconds >= 0 or a function(config, iteration)")
  end
  e.simulate, e.iteration_time = tr.simulate, it == nil and 1 or it
  local executor = spec.executor
  if slurm.is_slurm(executor) then
    e.slurm, executor = executor, "slurm"
  elseif executor == "slurm" then
    e.slurm = slurm.new {}
  elseif executor ~= nil and executor ~= "local" and executor ~= "simulate" then
    fail("executor must be \"local\", \"simulate\", \"slurm\" or tune.slurm { ... }, got %s",
      tostring(executor))
  end
  if executor == "simulate" and not tr.simulate then
    fail("executor = \"simulate\" needs trainer.simulate = function(config, iteration, state)")
  end
  e.executor = executor or (tr.cmd == nil and tr.simulate and "simulate") or "local"
  local cmd = tr.cmd
  if cmd == nil and tr.simulate then cmd = { "false" } end -- never run: simulated trials only
  if type(cmd) == "string" then cmd = { "/bin/sh", "-c", cmd } end
  if type(cmd) ~= "table" or #cmd == 0 then
    fail("trainer.cmd must be a non-empty list of strings (or a shell command string)")
  end
  e.cmd = {}
  for i, a in ipairs(cmd) do
    if type(a) ~= "string" and type(a) ~= "number" then
      fail("trainer.cmd[%d] must be a string, got %s", i, type(a))
    end
    e.cmd[i] = tostring(a)
  end
  -- a table, or a function(config) -> table evaluated for each trial (runner.resources)
  local res = tr.resources or {}
  if type(res) == "function" then
    e.resources, e.cpu, e.gpu = res, 1, 0
  else
    if type(res) ~= "table" then
      fail("trainer.resources must be a table { cpu = , gpu = , mem = , custom = } or a " ..
        "function(config) returning one")
    end
    local rq, why = resources.check(res, "trainer.resources")
    if not rq then fail("%s", why) end
    e.resources, e.cpu, e.gpu = rq, rq.cpu, rq.gpu
  end
  local caps, why = resources.capacities(spec.custom_resources)
  if not caps then fail("%s", why) end
  e.custom_resources = caps
  e.env = {}
  if tr.env ~= nil then
    if type(tr.env) ~= "table" then fail("trainer.env must be a table of NAME = value") end
    local names = {}
    for k in pairs(tr.env) do names[#names + 1] = k end
    table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(names) do
      local v = tr.env[k]
      if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
        fail("trainer.env has an invalid variable name %s", tostring(k))
      end
      if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
        fail("trainer.env.%s must be a string or number, got %s", k, type(v))
      end
      e.env[#e.env + 1] = k .. "=" .. tostring(v)
    end
  end
  e.stop_grace_s = tr.stop_grace_s == nil and 5 or tr.stop_grace_s
  if type(e.stop_grace_s) ~= "number" or e.stop_grace_s < 0 then
    fail("trainer.stop_grace_s must be a number of seconds >= 0")
  end
  if tr.reuse ~= nil and type(tr.reuse) ~= "boolean" then
    fail("trainer.reuse must be a boolean")
  end
  e.reuse = tr.reuse or false

  e.config = spec.config == nil and {} or spec.config
  if type(e.config) ~= "table" or dsl.is_domain(e.config) then
    fail("config must be a table of parameters")
  end
  dsl.validate(e.config, "config")

  e.num_samples = spec.num_samples == nil and 1 or spec.num_samples
  if not is_count(e.num_samples, 1) then
    fail("num_samples must be an integer >= 1, got %s", tostring(spec.num_samples))
  end
  if spec.metric ~= nil and type(spec.metric) ~= "string" then fail("metric must be a string") end
  e.metric = spec.metric
  if spec.mode ~= nil and spec.mode ~= "max" and spec.mode ~= "min" then
    fail("mode must be \"max\" or \"min\", got %s", tostring(spec.mode))
  end
  if e.metric and not spec.mode then
    fail("metric '%s' needs mode = \"max\" or \"min\"", e.metric)
  end
  if spec.mode and not e.metric then fail("mode is set but metric is not") end
  e.mode = spec.mode

  local stop = spec.stop
  if stop ~= nil and type(stop) ~= "function" then
    if type(stop) ~= "table" then fail("stop must be a table of thresholds or a function") end
    for k, v in pairs(stop) do
      if type(k) ~= "string" or type(v) ~= "number" then
        fail("stop.%s must be a number threshold", tostring(k))
      end
    end
  end
  e.stop = stop

  e.scheduler = spec.scheduler
  local sched, search = e.scheduler, spec.searcher
  if sched ~= nil and (type(sched) ~= "table" or type(sched.on_result) ~= "function") then
    fail("scheduler must be made by tune.schedulers.<name> { ... } (an object with on_result)")
  end
  -- searchers have on_result too: as the scheduler one would never stop a trial
  if sched ~= nil and sched.suggest ~= nil then
    fail("scheduler is a searcher (%s): put it in searcher = ...", tostring(sched.name))
  end
  e.searcher = spec.searcher
  if search ~= nil and (type(search) ~= "table" or type(search.suggest) ~= "function") then
    fail("searcher must be made by tune.searchers.<name> { ... } (an object with suggest)")
  end
  e.max_failures = spec.max_failures == nil and 0 or spec.max_failures
  if not is_count(e.max_failures, 0) then fail("max_failures must be an integer >= 0") end
  local tt = spec.trial_timeout
  if tt ~= nil and (type(tt) ~= "number" or tt <= 0) then
    fail("trial_timeout must be a number of seconds > 0 (the longest a trial may go without " ..
      "reporting)")
  end
  e.trial_timeout = spec.trial_timeout
  e.max_concurrent = spec.max_concurrent == nil and 0 or spec.max_concurrent
  if not is_count(e.max_concurrent, 0) then fail("max_concurrent must be an integer >= 0") end
  if spec.seed ~= nil and not is_count(spec.seed, 0) then fail("seed must be an integer >= 0") end
  e.seed = spec.seed
  local ck = spec.checkpoint or {}
  if type(ck) ~= "table" then fail("checkpoint must be a table") end
  for k in pairs(ck) do
    if not checkpoint_fields[k] then fail("unknown field 'checkpoint.%s'", tostring(k)) end
  end
  if ck.every ~= nil and not is_count(ck.every, 1) then
    fail("checkpoint.every must be an integer >= 1 (results between checkpoints)")
  end
  if ck.at_end ~= nil and type(ck.at_end) ~= "boolean" then
    fail("checkpoint.at_end must be a boolean")
  end
  if ck.keep ~= nil and not is_count(ck.keep, 1) then
    fail("checkpoint.keep must be an integer >= 1")
  end
  if ck.score ~= nil and type(ck.score) ~= "string" then
    fail("checkpoint.score must be the name of a metric")
  end
  if ck.score_mode ~= nil and ck.score_mode ~= "max" and ck.score_mode ~= "min" then
    fail("checkpoint.score_mode must be \"max\" or \"min\"")
  end
  if ck.score and not (ck.score_mode or e.mode) then
    fail("checkpoint.score needs score_mode = \"max\" or \"min\" (or the experiment's mode)")
  end
  if ck.timeout_s ~= nil and (type(ck.timeout_s) ~= "number" or ck.timeout_s <= 0) then
    fail("checkpoint.timeout_s must be a number of seconds > 0")
  end
  e.checkpoint = ck
  -- logs: which per-trial files the engine writes beside result.jsonl and progress.csv
  local logs = spec.logs
  if logs == nil then logs = {} end
  if type(logs) ~= "table" then fail("logs must be a table, e.g. { tensorboard = false }") end
  for k in pairs(logs) do
    if not logs_fields[k] then fail("unknown field 'logs.%s'", tostring(k)) end
  end
  if logs.tensorboard ~= nil and type(logs.tensorboard) ~= "boolean" then
    fail("logs.tensorboard must be a boolean, got %s", tostring(logs.tensorboard))
  end
  e.logs = { tensorboard = logs.tensorboard ~= false }
  if spec.budget ~= nil then
    local b, bwhy = require("tunelua.budget").check(spec.budget)
    if not b then fail("%s", bwhy) end
    e.budget = b
  end
  -- named variants, chosen by name with --scheduler / --searcher and `tunelua compare`
  for kind, needs in pairs { schedulers = "on_result", searchers = "suggest" } do
    local v = spec[kind] or {}
    if type(v) ~= "table" then
      fail("%s must be a table of name = tune.%s.<name> { ... }", kind, kind)
    end
    for k, obj in pairs(v) do
      if type(k) ~= "string" or not k:match("^[%w_.-]+$") then
        fail("%s: the name %s must be letters, digits, '_', '-' or '.'", kind, tostring(k))
      end
      if type(obj) ~= "table" or type(obj[needs]) ~= "function" then
        fail("%s.%s must be made by tune.%s.<name> { ... }", kind, k, kind)
      end
      if kind == "schedulers" and obj.suggest ~= nil then
        fail("schedulers.%s is a searcher (%s): put it in searchers = { ... }", k,
          tostring(obj.name))
      end
    end
    e[kind] = v
  end
  e.shared = M.shares
  M.shares = {}
  return e
end

M.shares = {}

-- Shared objects (the paper's put/get): a file or directory every trial reads. The engine
-- copies it once into the experiment directory, read-only; trainers ask for it by name
-- (tunelua.shared(name) in Python). Returns the name.
function M.share(name, path)
  if type(name) ~= "string" or not name:match("^[%w_.-]+$") then
    error("tune.share: the name must be letters, digits, '_', '-' or '.'", 2)
  end
  if type(path) ~= "string" or path == "" then
    error("tune.share: the path of '" .. name .. "' must be a string", 2)
  end
  local f = io.open(path, "r")
  if not f then error("tune.share: " .. path .. " (for '" .. name .. "') does not exist", 2) end
  f:close()
  if M.shares[name] and M.shares[name] ~= path then
    error("tune.share: '" .. name .. "' is already shared as " .. M.shares[name], 2)
  end
  M.shares[name] = path
  return name
end

-- tune.slurm { partition =, account =, time =, extra_args =, address = }: the Slurm executor.
M.slurm = slurm.new

function M.is_experiment(v)
  return getmetatable(v) == Experiment
end

return M
