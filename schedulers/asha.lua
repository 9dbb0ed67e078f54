-- ASHA: asynchronous successive halving (Li et al., "A System for Massively Parallel
-- Hyperparameter Tuning", MLSys 2020), as Ray Tune's AsyncHyperBandScheduler.
--
-- Stopping (default, Ray's rule). Each trial joins one bracket; bracket s has rungs at
-- grace_period * rf^(k + s) up to max_t. The first result at or past a rung the trial has not
-- reached before is compared with the values other trials recorded at that rung: when it is
-- strictly worse than their (1 - 1/rf) quantile (linear interpolation, NaNs left out) the
-- trial stops; either way its value is recorded there. A result with time_attr >= max_t stops
-- the trial (unless stop_last_trials = false).
--
-- Promotion (promotion = true; the paper's Algorithm 2). A trial pauses at each rung below
-- the top one. Whenever a slot is free, the best trial in the top 1/rf of the highest rung
-- that has one not yet promoted is resumed ("promoted"); when there is none, a new trial
-- starts. A trial that reaches a rung and would be the one promoted right away continues.
-- End game (finite trials): once no new trial can start and none runs, a rung promotes its
-- best max(1, floor(n/rf)) trials, so that the best trial still reaches max_t.
local rungs = require "tunelua.rungs"
local dsl = require "tunelua.dsl"

local type, pairs, ipairs, error, tostring, format = type, pairs, ipairs, error, tostring,
  string.format
local setmetatable, floor, max, exp_, huge = setmetatable, math.floor, math.max, math.exp,
  math.huge
local sort, concat = table.sort, table.concat

local Asha = {}
Asha.__index = Asha

-- Finds the trial's bracket, assigning one when on_trial_add was not called for it (a
-- scheduler swapped in mid-run). Ray samples the bracket with a softmax over bracket sizes
-- (number of rungs); the draw is the trial's own derived stream, so it does not depend on
-- event order.
function Asha:bracket(trial)
  local b = self.of[trial]
  if b then return b end
  local ladders = self.ladders
  b = ladders[1]
  if #ladders > 1 then
    local u = self.exp.rng:derive("bracket:" .. tostring(trial.id)):random() * self.wsum
    for i = 1, #ladders do
      u = u - self.weights[i]
      b = ladders[i]
      if u < 0 then break end
    end
  end
  self.of[trial] = b
  return b
end

function Asha:setup(exp)
  self.exp = exp
  local o = self.opts
  self.metric = o.metric or exp.metric
  self.mode = o.mode or exp.mode
  if not self.metric or not self.mode then
    error(format("asha: needs a metric and a mode (got metric %s, mode %s): set them in the " ..
      "experiment or in asha { metric = ..., mode = ... }", tostring(self.metric),
      tostring(self.mode)), 0)
  end
  self.ladders, self.weights, self.wsum = {}, {}, 0
  local most = 0
  for s = 0, o.brackets - 1 do
    local L = rungs.new(rungs.milestones(o.grace_period, o.max_t, o.reduction_factor, s),
      o.reduction_factor, self.mode)
    L.promoted = {}
    for k = 1, #L.t do L.promoted[k] = {} end
    self.ladders[s + 1] = L
    if #L.t > most then most = #L.t end
  end
  for i, L in ipairs(self.ladders) do
    self.weights[i] = exp_(#L.t - most)
    self.wsum = self.wsum + self.weights[i]
  end
  self.of = {}      -- trial view -> its ladder
  self.seen = {}    -- trial view -> training_iteration last given to on_result
  self.waiting = {} -- trial view -> rung it is paused at (promotion)
  self.time = rungs.time_getter(o.time_attr)
end

function Asha:on_trial_add(trial)
  self:bracket(trial)
end

-- Ray's _Bracket.on_result: the highest rung at or below time the trial has not recorded
-- decides (cutoff from the values recorded before this one), then takes the value.
local function bracket_result(self, L, trial, time, value)
  local t = L.t
  for k = #t, 1, -1 do
    if time >= t[k] then
      local recorded = L:get(k, trial) ~= nil
      if recorded and not self.opts.stop_last_trials then return "continue" end
      if not recorded then
        local cutoff = L:cutoff(k)
        L:record(k, trial, value)
        if cutoff and L:worse(value, cutoff) then return "stop" end
        return "continue"
      end
    end
  end
  return "continue"
end

-- The paused trial (or `current`, the one now reporting) that Algorithm 2 promotes next:
-- rungs from the top down (the top rung promotes nowhere), best first among its top 1/rf,
-- skipping trials already promoted from that rung. Returns trial, ladder, rung or nil.
function Asha:promotable(current)
  for _, L in ipairs(self.ladders) do
    for k = #L.t - 1, 1, -1 do
      for _, trial in ipairs(L:top(k)) do
        if not L.promoted[k][trial] and (trial == current or
            (trial.status == "PAUSED" and self.waiting[trial] == k)) then
          return trial, L, k
        end
      end
    end
  end
end

local function promotion_result(self, L, trial, time, value)
  local k = L:rung_at(time)
  if k == 0 or L:get(k, trial) ~= nil then return "continue" end
  L:record(k, trial, value)
  if k == #L.t then return "continue" end
  local best, bl, bk = self:promotable(trial)
  if best == trial and bl == L and bk == k then
    L.promoted[k][trial] = true
    return "continue"
  end
  self.waiting[trial] = k
  return "pause"
end

function Asha:on_result(trial, result)
  local time, value = self.time(result), result[self.metric]
  if time == nil or type(value) ~= "number" then return "continue" end
  self.seen[trial] = result.training_iteration
  local L = self:bracket(trial)
  if time >= self.opts.max_t and self.opts.stop_last_trials then
    if self.opts.promotion then
      local k = L:rung_at(time)
      if k > 0 then L:record(k, trial, value) end
    end
    return "stop"
  end
  if self.opts.promotion then return promotion_result(self, L, trial, time, value) end
  return bracket_result(self, L, trial, time, value)
end

-- As Ray: a trial that ends without this result passing through on_result (the experiment's
-- stop rule fired, or the trainer ended) still records it at its rung.
function Asha:on_trial_complete(trial, result)
  self.waiting[trial] = nil
  if not result or self.seen[trial] == result.training_iteration then return end
  local time, value = self.time(result), result[self.metric]
  if time == nil or type(value) ~= "number" then return end
  local L = self:bracket(trial)
  if self.opts.promotion then
    local k = L:rung_at(time)
    if k > 0 then L:record(k, trial, value) end
  else
    bracket_result(self, L, trial, time, value)
  end
end

function Asha:on_trial_error(trial)
  self.waiting[trial] = nil
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

-- With a finite number of trials the top 1/rf of a small rung is empty (floor(n/rf) = 0), so
-- Algorithm 2 alone would end with no trial trained to max_t. Once no new trial can start and
-- none runs, a rung promotes its best max(1, floor(n/rf)) trials (one at a time, the highest
-- rung first), as synchronous successive halving rounding up to one would.
function Asha:end_game()
  if not exhausted(self) then return nil end
  for _, x in ipairs(self.exp.trials) do
    if x.status == "RUNNING" then return nil end
  end
  local best, bl, bk
  for _, L in ipairs(self.ladders) do
    for k = #L.t - 1, 1, -1 do
      if bk and k <= bk then break end
      local top = L:top(k, max(1, floor(L:count(k) / L.eta)))
      for _, x in ipairs(top) do
        if not L.promoted[k][x] and x.status == "PAUSED" and self.waiting[x] == k then
          best, bl, bk = x, L, k
          break
        end
      end
    end
  end
  if best then
    bl.promoted[bk][best] = true
    self.waiting[best] = nil
  end
  return best
end

function Asha:on_searcher_exhausted()
  self.searcher_done = true
end

-- Stopping variant: FIFO (the first PENDING trial, else the first PAUSED one). Promotion
-- variant: a promotion if there is one, else a trial paused for another reason (an
-- interrupted run), else the first PENDING trial; nil lets the searcher add a new one.
function Asha:choose_trial_to_run()
  local trials = self.exp.trials
  if self.opts.promotion then
    local t, L, k = self:promotable(nil)
    if t then
      L.promoted[k][t] = true
      self.waiting[t] = nil
      return t
    end
    for _, x in ipairs(trials) do
      if x.status == "PAUSED" and not self.waiting[x] then return x end
    end
    for _, x in ipairs(trials) do
      if x.status == "PENDING" then return x end
    end
    return self:end_game()
  end
  local paused
  for _, x in ipairs(trials) do
    if x.status == "PENDING" then return x end
    if x.status == "PAUSED" and not paused then paused = x end
  end
  return paused
end

local defaults = {
  time_attr = "training_iteration", max_t = 100, grace_period = 1, reduction_factor = 4,
  brackets = 1, stop_last_trials = true, promotion = false,
}

local function accepted()
  local names = { "metric", "mode" }
  for k in pairs(defaults) do names[#names + 1] = k end
  sort(names)
  return concat(names, ", ")
end

-- A finite number strictly above lo.
local function above(v, lo)
  return type(v) == "number" and v > lo and v < huge
end

-- Checks every option (Ray's asserts, and types); errors point at the experiment's line.
return function(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("asha: options must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do
    if defaults[k] == nil and k ~= "metric" and k ~= "mode" then
      error(format("asha: unknown option '%s' (accepted: %s)", tostring(k), accepted()), 2)
    end
    o[k] = v
  end
  for k, v in pairs(defaults) do
    if o[k] == nil then o[k] = v end
  end
  local function bad(name, want)
    error(format("asha: %s must be %s, got %s", name, want, tostring(opts[name])), 3)
  end
  if type(o.time_attr) ~= "string" or o.time_attr == "" then bad("time_attr", "a result name") end
  if o.metric ~= nil and (type(o.metric) ~= "string" or o.metric == "") then
    bad("metric", "a result name")
  end
  if o.mode ~= nil and o.mode ~= "min" and o.mode ~= "max" then bad("mode", '"min" or "max"') end
  if not above(o.max_t, 0) then bad("max_t", "a finite number > 0") end
  if not above(o.grace_period, 0) then bad("grace_period", "a finite number > 0") end
  if o.grace_period > o.max_t then
    error(format("asha: grace_period (%s) must be <= max_t (%s)", tostring(o.grace_period),
      tostring(o.max_t)), 2)
  end
  if not above(o.reduction_factor, 1) then bad("reduction_factor", "a finite number > 1") end
  if type(o.brackets) ~= "number" or o.brackets < 1 or o.brackets ~= floor(o.brackets) then
    bad("brackets", "an integer >= 1")
  end
  if type(o.stop_last_trials) ~= "boolean" then bad("stop_last_trials", "a boolean") end
  if type(o.promotion) ~= "boolean" then bad("promotion", "a boolean") end
  return setmetatable({ name = o.promotion and "asha-promotion" or "asha", opts = o }, Asha)
end
