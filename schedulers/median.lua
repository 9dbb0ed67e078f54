-- The median stopping rule (Golovin et al., "Google Vizier", KDD 2017), as Ray Tune's
-- MedianStoppingRule: a trial is stopped at time t when its best value so far is strictly
-- worse than the median, over the other trials that have reached t, of their running means
-- (mean of their values with grace_period <= time <= t). Nothing is decided before
-- grace_period, nor with fewer than min_samples_required other trials; in that case the
-- trial yields its slot (pauses) when another trial waits and it ran min_time_slice since it
-- last yielded. hard_stop = false pauses instead of stopping; such trials run again, FIFO,
-- once no new trial is left to start.
--
-- Learning curves and running means are tunelua.stats; option checks tunelua.options; trial
-- order and searcher exhaustion tunelua.trials.
local rungs = require "tunelua.rungs"
local stats = require "tunelua.stats"
local options = require "tunelua.options"
local trials = require "tunelua.trials"

local setmetatable, huge = setmetatable, math.huge

local Median = {}
Median.__index = Median

function Median:setup(exp)
  self.exp = exp
  self.metric, self.mode = options.metric_mode("median", self.opts, exp)
  self.sign = rungs.sign(self.mode)
  self.curves = stats.curves() -- trial view -> (time, value) curve, in Ray's dict order
  self.seen = {}               -- trial view -> training_iteration last given to on_result
  self.stopped = {}            -- trials the rule stopped (paused, with hard_stop = false)
  self.last_pause = {}         -- trial view -> time it last yielded
end

local function other(t, trial) return t ~= trial end
local first = trials.first

-- Ray's _on_insufficient_samples: yield when another trial is PENDING or PAUSED and this one
-- ran more than min_time_slice since it last yielded.
local function insufficient(self, trial, time)
  local list = self.exp.trials
  if time - (self.last_pause[trial] or -huge) > self.opts.min_time_slice and
      (first(list, "PENDING", other, trial) or first(list, "PAUSED", other, trial)) then
    self.last_pause[trial] = time
    return "pause"
  end
  return "continue"
end

function Median:on_result(trial, result)
  local time, value = trials.point(result, self.opts.time_attr, self.metric)
  if not time or self.stopped[trial] then return "continue" end -- stopped: now run FIFO
  self.seen[trial] = result.training_iteration
  local best = self.curves:add(trial, time, value):best(self.sign)
  local grace = self.opts.grace_period
  if time < grace then return "continue" end
  local median, n = self.curves:median(trial, grace, time)
  if n < self.opts.min_samples_required then return insufficient(self, trial, time) end
  if self.sign * best < self.sign * median then
    self.stopped[trial] = true
    return self.opts.hard_stop and "stop" or "pause"
  end
  return "continue"
end

-- As Ray, a final result the rule did not see (the experiment's stop rule ended the trial)
-- still joins the trial's curve.
function Median:on_trial_complete(trial, result)
  if not trials.unseen(self.seen, trial, result) then return end
  local time, value = trials.point(result, self.opts.time_attr, self.metric)
  if not time then return end
  self.seen[trial] = result.training_iteration
  self.curves:add(trial, time, value)
end

Median.on_searcher_exhausted = trials.on_searcher_exhausted

local function not_stopped(t, self) return not self.stopped[t] end

-- Ray's FIFO order: the first PENDING trial, else the first PAUSED one; trials the rule
-- paused (hard_stop = false) wait until no new trial is left to start.
function Median:choose_trial_to_run()
  local list = self.exp.trials
  local t = trials.first(list, "PENDING") or trials.first(list, "PAUSED", not_stopped, self)
  local stopped = not t and trials.first(list, "PAUSED") -- one the rule paused
  if stopped and trials.exhausted(self) then return stopped end
  return t
end


return function(opts)
  local o = options.check("median", opts, {
    time_attr = { "time_total_s", "string", "a result name" },
    metric = { nil, "string", "a result name" }, mode = { nil, "mode", '"min" or "max"' },
    grace_period = { 60, ">=0" }, min_samples_required = { 3, "int>=1" },
    min_time_slice = { 0, ">=0" }, hard_stop = { true, "boolean" },
  })
  return setmetatable({ name = "median", opts = o }, Median)
end
