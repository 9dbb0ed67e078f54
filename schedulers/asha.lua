-- ASHA: asynchronous successive halving (Li et al., "A System for Massively Parallel
-- Hyperparameter Tuning", MLSys 2020), as Ray Tune's AsyncHyperBandScheduler.
--
-- Each trial joins one bracket; bracket s has rungs at grace_period * rf^(k + s) up to
-- max_t. The first result at or past a rung the trial has not reached before is compared
-- with the values other trials recorded at that rung: when it is strictly worse than their
-- (1 - 1/rf) quantile (linear interpolation, NaNs left out) the trial stops; either way its
-- value is recorded there. A result with time_attr >= max_t stops the trial (unless
-- stop_last_trials = false). Trials run in FIFO order.
--
-- asha { promotion = true } is the paper's Algorithm 2 with pause/resume, in
-- schedulers/asha_promotion.lua, built on this file's class.
--
-- Rungs, cutoffs and the bracket draw are tunelua.rungs; option checks tunelua.options;
-- result points and searcher exhaustion tunelua.trials.
local rungs = require "tunelua.rungs"
local options = require "tunelua.options"
local trials = require "tunelua.trials"

local tostring, setmetatable, require = tostring, setmetatable, require

local Asha = {}
Asha.__index = Asha

function Asha:setup(exp)
  local o = self.opts
  self.exp = exp
  self.metric, self.mode = options.metric_mode("asha", o, exp)
  self.ladders = rungs.brackets(o.grace_period, o.max_t, o.reduction_factor, o.brackets, self.mode)
  self.of = {}   -- trial view -> its ladder
  self.seen = {} -- trial view -> training_iteration last given to on_result
end

-- The trial's bracket, drawn when it is first needed (also for a trial on_trial_add did not
-- see: a scheduler swapped in mid-run).
function Asha:on_trial_add(trial)
  local L = self.of[trial]
  if not L then
    L = rungs.pick(self.ladders, self.exp.rng, "bracket:" .. tostring(trial.id))
    self.of[trial] = L
  end
  return L
end

-- Ray's _Bracket.on_result: the highest rung at or below time the trial has not recorded
-- decides (cutoff from the values recorded before this one), then takes the value.
local function stop_rule(self, L, trial, time, value)
  for k = L:rung_at(time), 1, -1 do
    if L:get(k, trial) == nil then return L:enter(k, trial, value) and "stop" or "continue" end
    if not self.opts.stop_last_trials then break end
  end
  return "continue"
end

-- The (time, metric) point of a result that counts, and the trial's ladder; nil when the
-- result lacks either.
function Asha:point(trial, result)
  local time, value = trials.point(result, self.opts.time_attr, self.metric)
  if not time then return nil end
  self.seen[trial] = result.training_iteration
  return self:on_trial_add(trial), time, value
end

function Asha:on_result(trial, result)
  local L, time, value = self:point(trial, result)
  if not L then return "continue" end
  if time >= self.opts.max_t and self.opts.stop_last_trials then return "stop" end
  return stop_rule(self, L, trial, time, value)
end

-- As Ray: a trial that ends without this result passing through on_result (the experiment's
-- stop rule fired, or the trainer ended) still records it at its rung.
function Asha:on_trial_complete(trial, result)
  if not trials.unseen(self.seen, trial, result) then return end
  local L, time, value = self:point(trial, result)
  if L then self:record_final(L, trial, time, value) end
end

function Asha:record_final(L, trial, time, value)
  stop_rule(self, L, trial, time, value)
end

Asha.on_searcher_exhausted = trials.on_searcher_exhausted

function Asha:choose_trial_to_run()
  return trials.fifo(self.exp.trials)
end

local function result_name(v) return type(v) == "string" and v ~= "", "a result name" end

-- Checks every option (Ray's asserts, and types); errors point at the experiment's line.
local function new(_, opts)
  local o = options.check("asha", opts, {
    time_attr = { "training_iteration", result_name }, metric = { nil, result_name },
    mode = { nil, "mode", '"min" or "max"' }, max_t = { 100, "number>0" },
    grace_period = { 1, "number>0" }, reduction_factor = { 4, "number>1" },
    brackets = { 1, "int>=1" }, stop_last_trials = { true, "boolean" },
    promotion = { false, "boolean" },
  })
  if o.grace_period > o.max_t then
    options.fail("asha", 2, "grace_period (%s) must be <= max_t (%s)", tostring(o.grace_period),
      tostring(o.max_t))
  end
  if o.promotion then return require("schedulers.asha_promotion").new(o) end
  return setmetatable({ name = "asha", opts = o }, Asha)
end

-- A callable table: tune.schedulers.asha { ... } builds one; asha_promotion.lua reads .Asha.
return setmetatable({ Asha = Asha }, { __call = new })
