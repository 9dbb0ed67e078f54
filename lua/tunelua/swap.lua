-- Hot swap: a new scheduler replaces the running one in the middle of an experiment (SIGHUP,
-- DIR/swap.lua; docs/usage.md "Hot swap"). The engine (engine/swap.c) calls
--
--   begin(dir)     builds the new scheduler, hides the trial views' current state
--   event(ev)      for each line of journal.jsonl, in order: the new scheduler hears the
--                  callbacks it would have heard live (trial added, result, status, exploit,
--                  checkpoint), with exp.replaying set; its decisions are not acted on
--   finish(ok)     ok: the new scheduler replaces the old one; either way the views get their
--                  current state back
--
-- Any error (a file that does not load, a constructor or callback that raises) leaves the old
-- scheduler in place. The searcher is not touched.
local tune = require "tunelua"
local trial_order = require "tunelua.trials"

local type, ipairs, error, tostring, pcall, loadfile, require, getmetatable =
  type, ipairs, error, tostring, pcall, loadfile, require, getmetatable
local format = string.format

local M = {}

local function callable(v)
  if type(v) == "function" then return true end
  local mt = type(v) == "table" and getmetatable(v)
  return mt and mt.__call ~= nil or false
end

local function is_scheduler(v)
  return type(v) == "table" and type(v.on_result) == "function"
end

-- A searcher has on_result too; as the scheduler it would never stop anything.
local function not_searcher(obj)
  if obj.suggest ~= nil then
    error(format("tunelua: '%s' is a searcher, not a scheduler (a searcher goes in --searcher " ..
      "or searcher = ...)", tostring(obj.name)), 0)
  end
  return obj
end

M.builtin = { scheduler = "fifo, asha, asha_promotion, hyperband, median, pbt, pb2",
  searcher = "random, grid, tpe, bohb" }

-- The message for a scheduler or searcher name that is neither a built-in nor a variant.
function M.unknown(kind, name)
  return format("unknown %s '%s' (built-in: %s; or a .lua file; or a name in the " ..
    "experiment's %ss = { ... })", kind, name, M.builtin[kind], kind)
end

-- Runs a Lua file (a scheduler, swap.lua or an experiment) and returns what it returns;
-- raises "tunelua: FILE:LINE: ..." when it does not load or raises.
function M.run_file(path)
  local chunk, err = loadfile(path)
  if not chunk then error("tunelua: " .. tostring(err), 0) end
  local was = tune.loading
  tune.loading = path
  local ok, v = pcall(chunk)
  tune.loading = was
  if not ok then error("tunelua: " .. tostring(v):gsub("^tunelua: ", ""), 0) end
  return v
end

-- A scheduler object from what a swap (or --scheduler) names:
--   "asha"               schedulers/asha.lua, read again (so an edit under --lua-dir counts)
--   "path/x.lua"         a file returning any of the forms below
--   a constructor        called with {}
--   a scheduler object   tune.schedulers.asha { ... }
--   { scheduler = X }    X any of these (what DIR/swap.lua returns)
--   an experiment        its scheduler (fifo when it names none)
-- variant(name), when given, is asked first for a name: the experiment's named variant
-- (`schedulers = { NAME = ... }`), as `--scheduler NAME` takes it before the built-ins.
-- Raises "tunelua: ..." naming what was wrong.
function M.build(what, depth, variant)
  depth = depth or 0
  if depth > 8 then error("tunelua: scheduler files refer to each other in a loop", 0) end
  if type(what) == "string" then
    if what:match("%.lua$") then
      local v = M.run_file(what)
      if v == nil then error(format("tunelua: %s returns nothing (want a scheduler, " ..
        "{ scheduler = ... } or an experiment)", what), 0) end
      return M.build(v, depth + 1, variant)
    end
    local v = variant and variant(what)
    if v ~= nil then return M.build(v, depth + 1) end
    local name = "schedulers." .. what
    local was = package.loaded[name]
    package.loaded[name] = nil
    local ok, ctor = pcall(require, name)
    if not ok then
      package.loaded[name] = was
      if tostring(ctor):find("module '" .. name .. "' not found", 1, true) then
        error("tunelua: " .. M.unknown("scheduler", what), 0)
      end
      error("tunelua: scheduler '" .. what .. "': " .. tostring(ctor), 0)
    end
    if not callable(ctor) then return M.build(ctor, depth + 1) end
    local built, obj = pcall(ctor, {})
    if not built then -- a built-in that wants options (pbt): say where they go
      error(format("tunelua: %s\n  (give it options in the experiment: schedulers = { %s = " ..
        "tune.schedulers.%s { ... } })", tostring(obj):gsub("^tunelua: ", ""), what, what), 0)
    end
    return M.build(obj, depth + 1)
  end
  if is_scheduler(what) then return not_searcher(what) end
  if tune.is_experiment(what) then
    return what.scheduler or require("schedulers.fifo")({})
  end
  if callable(what) then
    local ok, obj = pcall(what, {})
    if not ok then error("tunelua: " .. tostring(obj):gsub("^tunelua: ", ""), 0) end
    if not is_scheduler(obj) then
      error("tunelua: the scheduler constructor did not return a scheduler (an object with " ..
        "on_result)", 0)
    end
    return not_searcher(obj)
  end
  if type(what) == "table" and what.scheduler ~= nil then
    return M.build(what.scheduler, depth + 1, variant)
  end
  error(format("tunelua: want a scheduler name, a .lua path, a scheduler, { scheduler = ... } " ..
    "or an experiment; got %s", type(what) == "table" and "a table without on_result" or
    type(what) .. " " .. tostring(what)), 0)
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

-- The fields of a view that the replay rewinds and replays; restored by finish.
local FIELDS = { "status", "iteration", "config", "last_result", "checkpoint",
  "checkpoint_iteration" }

local cur -- the swap in progress

local function restore(E)
  local trials = E.trials
  for i = #trials, 1, -1 do trials[i] = nil end
  for i, v in ipairs(cur.views) do
    trials[i] = v
    for k, f in ipairs(FIELDS) do v[f] = cur.saved[i][k] end
  end
  trial_order.reset(trials)
  E.runner.replaying = cur.was_replaying
end

-- Builds the new scheduler: from DIR/swap.lua if there is one, else from where the current
-- one came from (--scheduler NAME|FILE, else the experiment file). Returns its name, where it
-- came from ("swap.lua", "--scheduler" or "experiment") and the file that was read (nil for a
-- built-in name), for the journal.
function M.begin(E, dir)
  local st = E.st
  if cur then restore(E) cur = nil end
  local swap_file = dir .. "/swap.lua"
  local what, source, file
  if file_exists(swap_file) then
    what, source, file = swap_file, "swap.lua", swap_file
  elseif st.spec then
    what, source = st.spec, "--scheduler"
    file = st.spec:match("%.lua$") and st.spec or nil
  else
    what, source, file = st.path, "experiment", st.path
  end
  -- a named variant is read again from the experiment file: a new object, edits count
  local function variant(name)
    if st.exp.schedulers[name] == nil then return nil end
    local e = M.run_file(st.path)
    return tune.is_experiment(e) and e.schedulers[name] or nil
  end
  local sched = M.build(what, 0, variant)
  if sched == st.sched then
    error("tunelua: " .. source .. " gave the scheduler that is running, not a new one", 0)
  end
  cur = { sched = sched, views = {}, saved = {}, byid = {},
    was_replaying = E.runner.replaying }
  local trials = E.trials
  for i, v in ipairs(trials) do
    cur.views[i] = v
    local s = {}
    for k, f in ipairs(FIELDS) do s[k] = v[f] end
    cur.saved[i] = s
    cur.byid[v.id] = v
  end
  for i = #trials, 1, -1 do trials[i] = nil end
  trial_order.reset(trials)
  E.runner.replaying = true
  if sched.setup then
    local ctx = E.context(st.exp, dir, st.root:derive("scheduler"))
    local ok, err = pcall(sched.setup, sched, ctx)
    if not ok then
      restore(E)
      cur = nil
      error(format("tunelua: scheduler %s: setup: %s", tostring(sched.name), tostring(err)), 0)
    end
  end
  return tostring(sched.name), source, file
end

-- One journal line (decoded) into the new scheduler.
function M.event(E, ev)
  if not cur then error("tunelua: swap_event outside a swap", 0) end
  local kind, sched, trials = ev.ev, cur.sched, E.trials
  local v = ev.trial and cur.byid[ev.trial]
  if not v then return end
  if kind == "trial_added" then
    if trials[v.index] == v then return end
    if v.index ~= #trials + 1 then
      error(format("tunelua: journal adds trial %s out of order", v.id), 0)
    end
    v.iteration, v.config = 0, ev.config or {}
    trial_order.set_status(trials, v, "PENDING")
    v.last_result, v.checkpoint, v.checkpoint_iteration = nil, nil, nil
    trials[v.index] = v
    if sched.on_trial_add then sched:on_trial_add(v) end
  elseif trials[v.index] ~= v then
    return -- an event of a trial the journal has not added: ignored, as resume does
  elseif kind == "result" then
    local r = ev.result
    if type(r) ~= "table" then return end
    v.last_result = r
    v.iteration = r.training_iteration or v.iteration
    if not E.stop_rule(v, r) then sched:on_result(v, r) end
  elseif kind == "status" then
    trial_order.set_status(trials, v, ev.status)
    if type(ev.iteration) == "number" then v.iteration = ev.iteration end
    if ev.status == "TERMINATED" and sched.on_trial_complete then
      sched:on_trial_complete(v, v.last_result)
    elseif ev.status == "ERROR" and sched.on_trial_error then
      sched:on_trial_error(v)
    end
  elseif kind == "exploit" and type(ev.config) == "table" then
    v.config = ev.config
  elseif kind == "checkpoint" and ev.path then
    v.checkpoint, v.checkpoint_iteration = ev.path, ev.iteration
  end
end

-- Ends the swap: on success, trials the journal did not mention are added, the scheduler
-- hears that the searcher is exhausted if it is, and it replaces the old one.
function M.finish(E, ok)
  if not cur then return end
  local sched, trials = cur.sched, E.trials
  local done, err = true, nil
  if ok then
    done, err = pcall(function()
      for i = #trials + 1, #cur.views do
        trials[i] = cur.views[i]
        if sched.on_trial_add then sched:on_trial_add(cur.views[i]) end
      end
      if E.st.exhausted and sched.on_searcher_exhausted then sched:on_searcher_exhausted() end
    end)
  end
  restore(E)
  cur = nil
  if ok and done then E.install(sched) end
  if not done then error(tostring(err), 0) end
end

return M
