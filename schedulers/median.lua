-- The median stopping rule (Golovin et al., "Google Vizier", KDD 2017), as Ray Tune's
-- MedianStoppingRule: a trial is stopped at time t when its best value so far is strictly
-- worse than the median, over the other trials that have reached t, of their running means
-- (mean of their values with grace_period <= time <= t). Nothing is decided before
-- grace_period, nor with fewer than min_samples_required other trials; in that case the
-- trial yields its slot (pauses) when another trial waits and it ran min_time_slice since it
-- last yielded. hard_stop = false pauses instead of stopping; such trials run again, FIFO,
-- once no new trial is left to start.
local rungs = require "tunelua.rungs"
local stats = require "tunelua.stats"
local dsl = require "tunelua.dsl"

local type, pairs, ipairs, error, tostring, format = type, pairs, ipairs, error, tostring,
  string.format
local setmetatable, huge = setmetatable, math.huge

local Median = {}
Median.__index = Median

function Median:setup(exp)
  self.exp = exp
  local o = self.opts
  self.metric = o.metric or exp.metric
  self.mode = o.mode or exp.mode
  if not self.metric or not self.mode then
    error(format("median: needs a metric and a mode (got metric %s, mode %s): set them in the " ..
      "experiment or in median { metric = ..., mode = ... }", tostring(self.metric),
      tostring(self.mode)), 0)
  end
  self.sign = rungs.sign(self.mode)
  self.curves = {}     -- trial view -> stats.curve of (time, value)
  self.order = {}      -- trials in the order of their first result (Ray's dict order)
  self.seen = {}       -- trial view -> training_iteration last given to on_result
  self.stopped = {}    -- trials the rule stopped (paused, with hard_stop = false)
  self.last_pause = {} -- trial view -> time it last yielded
  self.means = {}      -- scratch: the other trials' running means
end

local function add(self, trial, time, value)
  local c = self.curves[trial]
  if not c then
    c = stats.curve()
    self.curves[trial] = c
    self.order[#self.order + 1] = trial
  end
  c:add(time, value)
  return c
end

-- Ray's _on_insufficient_samples: yield when another trial is PENDING or PAUSED and this one
-- ran more than min_time_slice since it last yielded.
local function insufficient(self, trial, time)
  if time - (self.last_pause[trial] or -huge) > self.opts.min_time_slice then
    for _, t in ipairs(self.exp.trials) do
      if t ~= trial and (t.status == "PENDING" or t.status == "PAUSED") then
        self.last_pause[trial] = time
        return "pause"
      end
    end
  end
  return "continue"
end

function Median:on_result(trial, result)
  local time, value = result[self.opts.time_attr], result[self.metric]
  if type(time) ~= "number" or type(value) ~= "number" then return "continue" end
  if self.stopped[trial] then return "continue" end -- paused by the rule, now run FIFO
  self.seen[trial] = result.training_iteration
  local mine = add(self, trial, time, value)
  local grace = self.opts.grace_period
  if time < grace then return "continue" end
  local means, n = self.means, 0
  for _, other in ipairs(self.order) do
    if other ~= trial then
      local c = self.curves[other]
      if c:last_t() >= time then
        -- a trial with no point in [grace, time] has no running mean there; Ray's np.mean of
        -- nothing is NaN (which then stops every trial); it is left out here
        local m = c:mean_between(grace, time)
        if m then
          n = n + 1
          means[n] = m
        end
      end
    end
  end
  if n < self.opts.min_samples_required then return insufficient(self, trial, time) end
  local median = stats.median(means, n)
  local best = mine:best(self.sign)
  if self.sign * best < self.sign * median then
    self.stopped[trial] = true
    return self.opts.hard_stop and "stop" or "pause"
  end
  return "continue"
end

-- As Ray, a final result the rule did not see (the experiment's stop rule ended the trial)
-- still joins the trial's curve.
function Median:on_trial_complete(trial, result)
  if not result or self.seen[trial] == result.training_iteration then return end
  local time, value = result[self.opts.time_attr], result[self.metric]
  if type(time) ~= "number" or type(value) ~= "number" then return end
  self.seen[trial] = result.training_iteration
  add(self, trial, time, value)
end

-- Whether the searcher has given every trial it will: num_samples times the number of grid
-- points have been added (what the random searcher gives), or the engine said so
-- (on_searcher_exhausted: other searchers, max_trials).
local function exhausted(self)
  local exp = self.exp
  if self.searcher_done then return true end
  if not self.total then self.total = (exp.num_samples or 1) * #dsl.grid(exp.space or {}) end
  return #exp.trials >= self.total
end

function Median:on_searcher_exhausted()
  self.searcher_done = true
end

-- Ray's FIFO order: the first PENDING trial, else the first PAUSED one; trials the rule
-- paused (hard_stop = false) wait until no new trial is left to start.
function Median:choose_trial_to_run()
  local trials = self.exp.trials
  local stopped
  for _, t in ipairs(trials) do
    if t.status == "PENDING" then return t end
  end
  for _, t in ipairs(trials) do
    if t.status == "PAUSED" then
      if not self.stopped[t] then return t end
      stopped = stopped or t
    end
  end
  if stopped and exhausted(self) then return stopped end
  return nil
end

local defaults = {
  time_attr = "time_total_s", grace_period = 60, min_samples_required = 3, min_time_slice = 0,
  hard_stop = true,
}
local accepted = "grace_period, hard_stop, metric, min_samples_required, min_time_slice, " ..
  "mode, time_attr"

-- A number (not NaN) >= lo.
local function at_least(v, lo)
  return type(v) == "number" and v >= lo
end

return function(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("median: options must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do
    if defaults[k] == nil and k ~= "metric" and k ~= "mode" then
      error(format("median: unknown option '%s' (accepted: %s)", tostring(k), accepted), 2)
    end
    o[k] = v
  end
  for k, v in pairs(defaults) do
    if o[k] == nil then o[k] = v end
  end
  local function bad(name, want)
    error(format("median: %s must be %s, got %s", name, want, tostring(opts[name])), 3)
  end
  if type(o.time_attr) ~= "string" or o.time_attr == "" then bad("time_attr", "a result name") end
  if o.metric ~= nil and (type(o.metric) ~= "string" or o.metric == "") then
    bad("metric", "a result name")
  end
  if o.mode ~= nil and o.mode ~= "min" and o.mode ~= "max" then bad("mode", '"min" or "max"') end
  if not at_least(o.grace_period, 0) then bad("grace_period", "a number >= 0") end
  local m = o.min_samples_required
  if type(m) ~= "number" or m < 1 or m ~= math.floor(m) then
    bad("min_samples_required", "an integer >= 1")
  end
  if not at_least(o.min_time_slice, 0) then bad("min_time_slice", "a number >= 0") end
  if type(o.hard_stop) ~= "boolean" then bad("hard_stop", "a boolean") end
  return setmetatable({ name = "median", opts = o }, Median)
end
