-- Synchronous HyperBand (Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to
-- Hyperparameter Optimization"), with the options of Ray Tune's HyperBandScheduler.
--
-- Trials are grouped into brackets s = s_max, s_max-1, ..., 0 (then again from s_max),
-- s_max = floor(log_eta(max_t)). Bracket s holds n = ceil((s_max+1)/(s+1) * eta^s) trials
-- and runs successive halving over s+1 rungs: rung i (0-based) has n_i = floor(n * eta^-i)
-- trials and budget r_i = max_t * eta^(i-s) of time_attr. A trial whose result reaches the
-- rung's budget pauses; when every live trial of the bracket has reached it (and the bracket
-- is full), the best n_{i+1} are resumed and the others lose: the one that is running is
-- stopped, paused ones are ended with exp.stop_trial. At the last rung (r = max_t) trials
-- are stopped.

--
-- Bracket sizes and rung budgets are tunelua.brackets; metric and mode tunelua.options.
local dsl = require "tunelua.dsl"
local B = require "tunelua.brackets"
local options = require "tunelua.options"

local type, pairs, ipairs, error, tostring, setmetatable, pcall =
  type, pairs, ipairs, error, tostring, setmetatable, pcall
local min, huge = math.min, math.huge
local format, sort, concat = string.format, table.sort, table.concat

local EPS = B.EPS
local OPTIONS = { "max_t", "metric", "mode", "reduction_factor", "stop_last_trials", "time_attr" }

local Hyperband = {}
Hyperband.__index = Hyperband

-- Metric and mode default to the experiment's; the number of trials the default searcher
-- will propose (num_samples x grid points, as in Ray Tune) lets the last bracket close when
-- it cannot fill (see on_searcher_exhausted).
function Hyperband:setup(exp)
  self.exp = exp
  self.metric, self.mode = options.metric_mode("hyperband",
    { metric = self.opt_metric, mode = self.opt_mode }, exp)
  self.sign = self.mode == "max" and -1 or 1
  if exp.space and exp.num_samples then
    local ok, grid = pcall(dsl.grid, exp.space)
    if ok then self.expected = exp.num_samples * #grid end
  end
end

local function full(b)
  return b.closed or #b.trials >= b.n
end

-- Rung i of bracket b is decided: the best n_{i+1} waiting trials (ties broken by the order
-- trials were added) go on to rung i+1, the others lose. A winner whose time is already past
-- the next budget (time_attr jumped) counts as having reached it.
function Hyperband:_halve(b)
  local info, waiting = self.info, {}
  for _, v in ipairs(b.trials) do
    if info[v].state == "wait" then waiting[#waiting + 1] = info[v] end
  end
  sort(waiting, function(x, y)
    if x.score ~= y.score then return x.score < y.score end
    return x.order < y.order
  end)
  b.i, b.waiting = b.i + 1, 0
  local k, r, last = min(b.rungs[b.i].n, #waiting), b.rungs[b.i].r, b.i == #b.rungs
  for j, t in ipairs(waiting) do
    if j > k then
      t.state, t.lost_at = "lost", b.rungs[b.i - 1].r
      b.live = b.live - 1
      if t.view.status == "PAUSED" and self.exp and self.exp.stop_trial then
        self.exp.stop_trial(t.view, format("lost at rung %s = %s of bracket %d", self.time_attr,
          tostring(t.lost_at), b.number))
      end
    elseif t.time + EPS < r or (last and not self.stop_last_trials) then
      t.state = "run"
    elseif not last then
      t.state, b.waiting = "wait", b.waiting + 1
    else
      t.state, b.live = "done", b.live - 1
    end
  end
end

-- Halves bracket b as long as its current rung is complete: the bracket is full (or closed)
-- and every live trial has reached the rung.
function Hyperband:_settle(b)
  while b.i < #b.rungs and b.live > 0 and b.waiting == b.live and full(b) do
    self:_halve(b)
  end
end

-- Closes the newest bracket at its current size: its rungs are recomputed for the trials
-- it has, and it is halved at once if they have all reached the first rung.
function Hyperband:_close()
  local b = self.brackets[#self.brackets]
  if not b or full(b) then return end
  b.closed = true
  b.rungs = B.rungs(#b.trials, b.s, self.max_t, self.eta)
  self:_settle(b)
end

-- A new trial joins the newest bracket; a full one opens the next (s counts down from
-- s_max to 0, then starts again at s_max).
function Hyperband:on_trial_add(trial)
  if self.info[trial] then return end
  local b = self.brackets[#self.brackets]
  if not b or full(b) then
    local plan = self.plan[self.next_plan]
    self.next_plan = self.next_plan % #self.plan + 1
    b = { s = plan.s, n = plan.n, rungs = plan.rungs, number = #self.brackets + 1, trials = {},
      i = 1, live = 0, waiting = 0, closed = false }
    self.brackets[b.number] = b
  end
  b.trials[#b.trials + 1] = trial
  b.live = b.live + 1
  self.added = self.added + 1
  self.info[trial] = { view = trial, bracket = b, state = "run", order = self.added, time = 0,
    score = huge }
  if self.added == self.expected then self:_close() end
end

-- The searcher has no more trials: the newest bracket will not fill, so it closes as it is.
function Hyperband:on_searcher_exhausted()
  self:_close()
end

local decisions = { run = "continue", wait = "pause", lost = "stop", done = "stop" }

-- A result: below the rung's budget the trial continues; at it, the trial waits (pause)
-- until the rung is complete, or is decided at once if it completes the rung itself.
function Hyperband:on_result(trial, result)
  local t = self.info[trial]
  if not t then
    self:on_trial_add(trial)
    t = self.info[trial]
  end
  if t.state ~= "run" then return decisions[t.state] end
  local b = t.bracket
  local time = result[self.time_attr]
  if type(time) ~= "number" then
    error(format("hyperband: the result of trial %s has no number '%s' (time_attr)",
      tostring(trial.id), self.time_attr), 0)
  end
  t.time = time
  local rung = b.rungs[b.i]
  if time + EPS < rung.r then return "continue" end
  if b.i == #b.rungs then
    if not self.stop_last_trials then return "continue" end
    t.state, b.live = "done", b.live - 1
    return "stop"
  end
  local value = result[self.metric]
  if type(value) ~= "number" then
    error(format("hyperband: the result of trial %s at %s = %s has no number '%s' (the metric)",
      tostring(trial.id), self.time_attr, tostring(time), self.metric), 0)
  end
  t.score = value ~= value and huge or self.sign * value -- NaN ranks last
  t.state, b.waiting = "wait", b.waiting + 1
  self:_settle(b)
  return decisions[t.state]
end

-- A trial that ends by itself (or by the stop rule, or with an error) leaves its bracket,
-- which may complete the rung the others are waiting at.
function Hyperband:on_trial_complete(trial)
  local t = self.info[trial]
  if not t or t.state == "lost" or t.state == "done" then return end
  local b = t.bracket
  if t.state == "wait" then b.waiting = b.waiting - 1 end
  t.state, b.live = "done", b.live - 1
  self:_settle(b)
end
Hyperband.on_trial_error = Hyperband.on_trial_complete

-- The first trial, bracket by bracket in the order they opened and trial by trial in the
-- order they joined, that is due to run: new (PENDING) or promoted and PAUSED. nil lets the
-- engine ask the searcher for a new trial.
function Hyperband:choose_trial_to_run()
  local info, bs = self.info, self.brackets
  -- only the newest bracket gains trials: an older one with none live is over for good
  local first = self.first_live or 1
  while first < #bs and bs[first].live == 0 do first = first + 1 end
  self.first_live = first
  for k = first, #bs do
    local b = bs[k]
    if b.live > 0 then
      for _, v in ipairs(b.trials) do
        local s = v.status
        if (s == "PENDING" or s == "PAUSED") and info[v].state == "run" then return v end
      end
    end
  end
  return nil
end

-- Where a trial stands, for specs and debugging: its bracket's number and s, the rung the
-- bracket is at (1-based), the rung budget it lost at, and its state: "run" (due to reach
-- the rung), "wait" (reached it, paused), "lost", or "done" (ended or reached max_t).
function Hyperband:where(trial)
  local t = self.info[trial]
  if not t then return nil end
  local b = t.bracket
  return { bracket = b.number, s = b.s, rung = b.i, r = b.rungs[b.i].r, state = t.state,
    lost_at = t.lost_at }
end

local function fail(msg, ...)
  error("hyperband: " .. format(msg, ...), 3)
end

-- A value as a message shows it: strings quoted, so that max_t = "81" reads as a string.
local function show(v)
  if type(v) == "string" then return format("%q", v) end
  return tostring(v)
end

local function number_ok(v)
  return type(v) == "number" and v == v and v > -huge and v < huge
end

-- Options as Ray Tune's HyperBandScheduler; mistakes are reported at the caller's line.
local function new(_, opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then fail("options must be a table, got %s", type(opts)) end
  for k in pairs(opts) do
    local known = false
    for _, name in ipairs(OPTIONS) do known = known or k == name end
    if not known then
      fail("unknown option '%s' (accepted: %s)", tostring(k), concat(OPTIONS, ", "))
    end
  end
  local o = opts
  if o.time_attr ~= nil and (type(o.time_attr) ~= "string" or o.time_attr == "") then
    fail("time_attr must be the name of a result field, got %s", show(o.time_attr))
  end
  if o.max_t ~= nil and not (number_ok(o.max_t) and o.max_t >= 1) then
    fail("max_t must be a number >= 1, got %s", show(o.max_t))
  end
  if o.reduction_factor ~= nil and not (number_ok(o.reduction_factor) and o.reduction_factor > 1)
  then
    fail("reduction_factor must be a number > 1, got %s", show(o.reduction_factor))
  end
  if o.metric ~= nil and (type(o.metric) ~= "string" or o.metric == "") then
    fail("metric must be a string, got %s", show(o.metric))
  end
  if o.mode ~= nil and o.mode ~= "max" and o.mode ~= "min" then
    fail("mode must be \"max\" or \"min\", got %s", show(o.mode))
  end
  if o.stop_last_trials ~= nil and type(o.stop_last_trials) ~= "boolean" then
    fail("stop_last_trials must be a boolean, got %s", show(o.stop_last_trials))
  end
  local self = setmetatable({
    name = "hyperband",
    time_attr = o.time_attr or "training_iteration",
    max_t = o.max_t or 81,
    eta = o.reduction_factor or 3,
    opt_metric = o.metric,
    opt_mode = o.mode,
    stop_last_trials = o.stop_last_trials ~= false,
    brackets = {}, info = {}, added = 0, next_plan = 1,
  }, Hyperband)
  self.plan = B.table(self.max_t, self.eta)
  return self
end

-- The file returns the constructor, callable as hyperband { ... }, with the bracket table
-- beside it: require("schedulers.hyperband").brackets(81, 3).
return setmetatable({ brackets = B.table }, { __call = new })
