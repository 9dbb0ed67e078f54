-- Population Based Training (Jaderberg et al., 2017), as Ray Tune's PopulationBasedTraining.
--
-- Every `perturbation_interval` units of `time_attr` a trial is ranked by its score at that
-- point against the other unfinished trials. A trial in the bottom `quantile_fraction`
-- exploits a random trial of the top fraction: the engine copies that trial's newest
-- checkpoint (the simulated state under the simulate executor) and the trial continues with
-- explore(top.config) (lua/tunelua/explore.lua). With `synch`, trials wait (paused) at each
-- perturbation point until every live trial has reached it, then the whole population is
-- ranked at once.
--
-- This file also serves PB2 (schedulers/pb2.lua): it returns a callable table whose `Pbt`
-- class and `new` the PB2 file builds on.
local explore = require "tunelua.explore"
local options = require "tunelua.options"
local population = require "tunelua.population"
local tables = require "tunelua.tables"
local members = require("tunelua.trials").members

local type, pairs, ipairs, next, error, tostring = type, pairs, ipairs, next, error, tostring
local setmetatable, max, format = setmetatable, math.max, string.format

local M = { explore = explore.explore, fill = explore.fill, deepcopy = tables.deepcopy }

local Pbt = {}
Pbt.__index = Pbt
M.Pbt = Pbt

local function fraction_to_half(v)
  return type(v) == "number" and v >= 0 and v <= 0.5, "between 0 and 0.5"
end

local function factor_list(v)
  local ok = type(v) == "table" and tables.is_list(v)
  for _, x in ipairs(ok and v or {}) do ok = ok and type(x) == "number" and x == x end
  return ok, "a list of numbers such as { 1.2, 0.8 }"
end

-- Checks the options shared by pbt and pb2 and the caller's `extra` schema entries (see
-- options.check); must be called by the constructor itself, so that an error points at the
-- experiment file. Returns the scheduler object, the options as its fields.
function M.new(name, opts, extra)
  local schema = {
    time_attr = { "time_total_s", "string", 'a result field name such as "time_total_s" or '
      .. '"training_iteration"' },
    metric = { nil, "string", "a result field name" }, mode = { nil, "mode" },
    perturbation_interval = { 60, "number>0" }, burn_in_period = { 0, "number>=0" },
    quantile_fraction = { 0.25, fraction_to_half },
    custom_explore_fn = { nil, "function", "a function(config, rng) returning the new config" },
    synch = { false, "boolean", "true or false" },
    require_attrs = { true, "boolean", "true or false" },
  }
  for k, v in pairs(extra) do schema[k] = v end
  local o = options.check(name, opts, schema, 3)
  o.name, o.state, o.num_perturbations, o.num_exploits = name, {}, 0, 0
  o.next_sync = max(o.perturbation_interval, o.burn_in_period)
  return setmetatable(o, Pbt)
end

-- The constructor (the module's __call): pbt's own options on top of M.new.
local function new_pbt(_, opts)
  local o = M.new("pbt", opts, {
    hyperparam_mutations = { nil, "any" }, resample_probability = { 0.25, "probability" },
    perturbation_factors = { { 1.2, 0.8 }, factor_list },
  })
  local muts = o.hyperparam_mutations
  local err = muts ~= nil and explore.check(muts)
  if err then options.fail("pbt", 2, "%s", err) end
  if (muts == nil or next(muts) == nil) and not o.custom_explore_fn then
    options.fail("pbt", 2, "give hyperparam_mutations or custom_explore_fn (or both): PBT "
      .. "needs something to explore")
  end
  o.mutations, o.hyperparam_mutations = muts or {}, nil
  return o
end

-- Takes the experiment's metric and mode unless given; refuses a real trainer that does not
-- checkpoint, since an exploit copies a top trial's weights.
function Pbt:setup(exp)
  self.exp, self.rng = exp, exp.rng
  self.metric, self.mode = options.metric_mode(self.name, self, exp)
  self.sign = self.mode == "max" and 1 or -1
  local ck = exp.checkpoint
  if exp.executor ~= "simulate" and not (ck and ck.every) then
    error(format("%s needs the trainer to checkpoint: set checkpoint = { every = N } in the "
      .. "experiment (N results between checkpoints, at most one perturbation_interval), so "
      .. "that a bottom trial can copy a top trial's weights; the trainer saves when "
      .. "tune.should_checkpoint() says so", self.name), 0)
  end
end

function Pbt:on_trial_add(trial)
  self.state[trial.index] = { last_perturbation_time = 0, last_train_time = 0 }
  if self.mutations then explore.fill(trial.config, self.mutations, self.rng) end
end

-- Ray's _quantiles of the trials by their score at their last perturbation point: lower,
-- upper and the ranked list (population.quantiles).
function Pbt:quantiles()
  local state = self.state
  return population.quantiles(self.exp.trials, self.quantile_fraction, function(t)
    return state[t.index] and state[t.index].last_score
  end)
end

-- The config a bottom trial continues with: explore(clone.config). PB2 overrides it.
function Pbt:new_config(_trial, clone)
  return (explore.explore(clone.config, self.mutations, self.resample_probability,
    self.perturbation_factors, self.custom_explore_fn, self.rng))
end

-- Called at each perturbation point with the trial's time and score (PB2 records data).
function Pbt.record() end

-- If `trial` is in the bottom quantile, picks a random top trial and the new config:
-- returns the exploit decision (or nil). Updates the trial's times as Ray's _exploit does.
-- Under the local executor a top trial without a checkpoint is not cloned (as in Ray).
function Pbt:exploit(trial, lower, upper)
  if not tables.contains(lower, trial) then return nil end
  local clone = self.rng:choice(upper)
  if self.exp.executor ~= "simulate" and clone.checkpoint == nil then return nil end
  local config = self:new_config(trial, clone)
  local st, cs = self.state[trial.index], self.state[clone.index]
  st.last_perturbation_time, st.last_train_time = cs.last_perturbation_time, cs.last_train_time
  self.num_exploits = self.num_exploits + 1
  return { exploit = clone, config = config }
end

-- Reads time_attr and the metric (signed so that higher is better) from a result; nil when
-- one is missing, an error when require_attrs (as in Ray).
function Pbt:read(trial, result)
  local time, score = result[self.time_attr], result[self.metric]
  if type(time) == "number" and type(score) == "number" then return time, self.sign * score end
  if self.require_attrs then
    local which = type(time) ~= "number" and "time_attr" or "metric"
    error(format("%s: trial %s reported no %s '%s' (set require_attrs = false to ignore such "
      .. "results)", self.name, tostring(trial.id), which,
      which == "time_attr" and self.time_attr or self.metric), 0)
  end
end

-- At a perturbation point: asynchronously, exploit now, or pause when other trials wait to
-- run; under synch, pause at the barrier (ranking everyone when this trial completes it).
function Pbt:on_result(trial, result)
  if not self.state[trial.index] then self:on_trial_add(trial) end
  local st = self.state[trial.index]
  if st.pending then -- synch: ranked at the last barrier while paused; takes over now
    local pending = st.pending
    st.pending = nil
    return pending
  end
  local time, score = self:read(trial, result)
  if not time or time < self.burn_in_period
      or time - st.last_perturbation_time < self.perturbation_interval then
    return "continue"
  end
  st.last_score, st.last_train_time = score, time
  self:record(trial, time, score)
  self.num_perturbations = self.num_perturbations + 1
  if self.synch then
    if self:synced(trial) then self:perturb_all(time) end
    return "pause"
  end
  st.last_perturbation_time = time
  local d = self:exploit(trial, self:quantiles())
  if d then return d end
  return population.others_waiting(self.exp.trials, trial) and "pause" or "continue"
end

-- synch: whether every live trial other than `except` has reached the next sync point.
local function reached(t, self, except)
  return t == except or self.state[t.index].last_train_time >= self.next_sync
end

function Pbt:synced(except)
  return population.all_unfinished(self.exp.trials, reached, self, except)
end

-- synch: ranks the whole population at the barrier, top trials first and bottom last (Ray's
-- order), and gives each bottom trial its exploit, applied at its next result: like Ray, every
-- trial is paused at the barrier (so that the engine restarts them all), and the engine cannot
-- exploit a paused trial. Then moves the barrier on.
function Pbt:perturb_all(time)
  local lower, upper, ranked = self:quantiles()
  for _, t in ipairs(population.top_down(lower, upper, ranked)) do
    self.state[t.index].last_perturbation_time = time
    self.state[t.index].pending = self:exploit(t, lower, upper)
  end
  local latest = 0
  for _, t in ipairs(self.exp.trials) do
    latest = max(latest, self.state[t.index].last_train_time)
  end
  self.next_sync = max(self.next_sync + self.perturbation_interval, latest)
end

-- synch: a trial that ends may be the one the others were waiting for.
function Pbt:on_trial_complete()
  if not self.synch then return end
  local waiting, latest = false, 0
  for t in pairs(members(self.exp.trials, "PAUSED")) do
    local lt = self.state[t.index] and self.state[t.index].last_train_time or 0
    if lt >= self.next_sync then waiting, latest = true, max(latest, lt) end
  end
  if waiting and self:synced(nil) then self:perturb_all(latest) end
end
Pbt.on_trial_error = Pbt.on_trial_complete

-- Ray's choose_trial_to_run: the PENDING or PAUSED trial with the least training time (under
-- synch, only those behind the next sync point), so the population advances evenly. Among
-- equals, a trial with an exploit pending goes last, so that it copies its source after the
-- source's own next step rather than before.
function Pbt:choose_trial_to_run()
  return population.first_waiting(self.exp.trials, function(t)
    local st = self.state[t.index]
    local lt = st and st.last_train_time or 0
    if not self.synch or lt < self.next_sync then return lt, st and st.pending and 1 or 0 end
  end)
end

return setmetatable(M, { __call = new_pbt })
