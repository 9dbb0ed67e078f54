-- Population Based Training (Jaderberg et al., 2017), as Ray Tune's PopulationBasedTraining.
--
-- Every `perturbation_interval` units of `time_attr` a trial is ranked by its score at that
-- point against the other unfinished trials. A trial in the bottom `quantile_fraction`
-- exploits a random trial of the top fraction: the engine copies that trial's newest
-- checkpoint (the simulated state under the simulate executor) and the trial continues with
-- explore(top.config). With `synch`, trials wait (paused) at each perturbation point until
-- every live trial has reached it, then the whole population is ranked at once.
--
-- This file also serves PB2 (schedulers/pb2.lua): it returns a callable table whose `Pbt`
-- class, `explore` and `new` the PB2 file builds on.
local dsl = require "tunelua.dsl"

local type, pairs, ipairs, next, error, tostring, pcall =
  type, pairs, ipairs, next, error, tostring, pcall
local setmetatable, getmetatable = setmetatable, getmetatable
local floor, ceil, huge = math.floor, math.ceil, math.huge
local format, sort, concat = string.format, table.sort, table.concat

local M = {}

local Pbt = {}
Pbt.__index = Pbt
M.Pbt = Pbt

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local function deepcopy(v)
  if type(v) ~= "table" or dsl.is_domain(v) then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deepcopy(x) end
  return setmetatable(c, getmetatable(v))
end
M.deepcopy = deepcopy

-- Value equality, tables compared element by element (Python's == on lists and dicts).
local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function index_of(list, v)
  for i = 1, #list do
    if equal(list[i], v) then return i end
  end
end

-- Keys in the DSL's sorted order (numbers before strings), so explore draws from the rng in
-- the same order on every run (Ray follows the dict's insertion order).
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta == "number" end
  return a < b
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, key_less)
  return keys
end

local function is_list(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- What a hyperparam_mutations entry is: "list" (categorical values, perturbed to a
-- neighbour), "domain" or "function" (continuous: multiplied by a factor), or "nested"
-- (a table of further mutations for a nested config table: named keys, or a list whose
-- elements are all domains or functions, which mutates a list-valued config element-wise).
local function mutation_kind(v)
  local t = type(v)
  if t == "function" then return "function" end
  if t ~= "table" then return nil end
  if dsl.is_domain(v) then return "domain" end
  if next(v) == nil then return nil end
  if not is_list(v) then return "nested" end
  for _, x in ipairs(v) do
    if type(x) ~= "function" and not dsl.is_domain(x) then return "list" end
  end
  return "nested"
end

local function trunc(x)
  return x >= 0 and floor(x) or ceil(x)
end

-- Whether a perturbed value must stay an integer: an integer domain says so; for a choice
-- domain, a function or a list the original value decides (Python's `type(x) is int`).
local function keeps_int(dist, value)
  if dsl.is_domain(dist) and dist.kind ~= "choice" then return dist.is_int == true end
  return value == floor(value) and value > -huge and value < huge
end

local SHIFTS = { -1, 1 }

---------------------------------------------------------------------------
-- Explore: Ray's _explore, rule for rule
---------------------------------------------------------------------------

-- A perturbed deep copy of config, and a table of what was done to each key. For each key
-- of `mutations` (sorted order; nested tables recurse):
--   list:   with probability p, or when the current value is not in the list, a uniformly
--           chosen element ("resample"); else the left or right neighbour, 50/50, clamped at
--           the ends ("shift left", "shift right", " (noop)" when clamped);
--   domain or function: with probability p a fresh sample (dsl.sample, or fn(rng)); else
--           the value times a factor chosen uniformly from `factors` ("* 1.2"); a value
--           that was an integer is truncated back to one (Python's int()).
-- Then custom_fn(new_config, rng) when given, which must return the config.
function M.explore(config, mutations, p, factors, custom_fn, rng, path)
  path = path or "config"
  local new = deepcopy(config)
  local ops = {}
  for _, key in ipairs(sorted_keys(mutations)) do
    local dist, kind = mutations[key], mutation_kind(mutations[key])
    local value, where = config[key], path .. "." .. tostring(key)
    if kind == "nested" then
      if type(value) ~= "table" then
        error(format("%s is a %s, but hyperparam_mutations nests a table there", where,
          type(value)), 0)
      end
      new[key], ops[key] = M.explore(value, dist, p, factors, nil, rng, where)
    elseif kind == "list" then
      local i = index_of(dist, value)
      if rng:random() < p or not i then
        new[key] = deepcopy(rng:choice(dist))
        ops[key] = "resample"
      else
        local shift = rng:choice(SHIFTS)
        local j = i + shift
        if j < 1 then j = 1 elseif j > #dist then j = #dist end
        new[key] = deepcopy(dist[j])
        ops[key] = (shift < 0 and "shift left" or "shift right") .. (i == j and " (noop)" or "")
      end
    else
      if type(value) ~= "number" then
        error(format("%s = %s cannot be perturbed by a factor (not a number): give a list of "
          .. "values in hyperparam_mutations instead", where, tostring(value)), 0)
      end
      local x
      if rng:random() < p then
        if kind == "domain" then x = dsl.sample(dist, rng) else x = dist(rng) end
        if type(x) ~= "number" then
          error(format("resampling %s gave %s, not a number", where, tostring(x)), 0)
        end
        ops[key] = "resample"
      else
        local f = rng:choice(factors)
        x = value * f
        ops[key] = "* " .. tostring(f)
      end
      if keeps_int(dist, value) then x = trunc(x) end
      new[key] = x
    end
  end
  if custom_fn then
    new = custom_fn(new, rng)
    if type(new) ~= "table" then
      error("custom_explore_fn must return the new config table, got " .. type(new), 0)
    end
  end
  return new, ops
end

-- Ray's _fill_config: a value for a mutated key that the trial's config lacks.
local function fill(config, mutations, rng)
  for _, key in ipairs(sorted_keys(mutations)) do
    local dist, kind = mutations[key], mutation_kind(mutations[key])
    if kind == "nested" then
      if config[key] == nil then config[key] = {} end
      if type(config[key]) == "table" then fill(config[key], dist, rng) end
    elseif config[key] == nil then
      if kind == "function" then
        config[key] = dist(rng)
      elseif kind == "domain" then
        config[key] = dsl.sample(dist, rng)
      else
        config[key] = deepcopy(rng:choice(dist))
      end
    end
  end
end
M.fill = fill

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

-- Checks hyperparam_mutations recursively; returns an error message or nil.
local function check_mutations(t, path)
  for k, v in pairs(t) do
    local where = path .. "." .. tostring(k)
    local kind = mutation_kind(v)
    if not kind then
      return format("%s must be a list of values, a domain (tune.uniform ...), a function or "
        .. "a table of nested mutations, got %s", where, type(v) == "table" and "an empty table"
        or tostring(v))
    elseif kind == "domain" then
      if v.err then return format("%s: %s", where, v.err) end
      if v.kind == "grid_search" or v.kind == "sample_from" then
        return format("%s: %s cannot be used as a mutation (use tune.uniform, tune.choice, a "
          .. "list or a function)", where, v.kind)
      end
    elseif kind == "nested" then
      local err = check_mutations(v, where)
      if err then return err end
    end
  end
end

local function is_number(v) return type(v) == "number" and v == v end

-- Validates the options shared by pbt and pb2 (`extra` names the ones the caller handles
-- itself). Returns the scheduler object; raises "name: message" (level 0) on a mistake.
function M.new(opts, name, extra)
  if opts ~= nil and type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", name, type(opts)), 0)
  end
  opts = opts or {}
  local known = {
    time_attr = true, metric = true, mode = true, perturbation_interval = true,
    burn_in_period = true, quantile_fraction = true, custom_explore_fn = true, synch = true,
    require_attrs = true,
  }
  for k in pairs(extra or {}) do known[k] = true end
  for k in pairs(opts) do
    if not known[k] then
      error(format("%s: unknown option '%s' (accepted: %s)", name, tostring(k),
        concat(sorted_keys(known), ", ")), 0)
    end
  end
  local function fail(fmt, ...) error(name .. ": " .. format(fmt, ...), 0) end
  local o = {}
  o.time_attr = opts.time_attr == nil and "time_total_s" or opts.time_attr
  if type(o.time_attr) ~= "string" or o.time_attr == "" then
    fail("time_attr must be a result field name such as \"time_total_s\" or "
      .. "\"training_iteration\", got %s", tostring(o.time_attr))
  end
  if opts.metric ~= nil and (type(opts.metric) ~= "string" or opts.metric == "") then
    fail("metric must be a result field name, got %s", tostring(opts.metric))
  end
  if opts.mode ~= nil and opts.mode ~= "max" and opts.mode ~= "min" then
    fail("mode must be \"max\" or \"min\", got %s", tostring(opts.mode))
  end
  o.metric, o.mode = opts.metric, opts.mode
  o.perturbation_interval = opts.perturbation_interval == nil and 60 or opts.perturbation_interval
  if not is_number(o.perturbation_interval) or o.perturbation_interval <= 0 then
    fail("perturbation_interval must be a number > 0, got %s", tostring(o.perturbation_interval))
  end
  o.burn_in_period = opts.burn_in_period == nil and 0 or opts.burn_in_period
  if not is_number(o.burn_in_period) or o.burn_in_period < 0 then
    fail("burn_in_period must be a number >= 0, got %s", tostring(o.burn_in_period))
  end
  o.quantile_fraction = opts.quantile_fraction == nil and 0.25 or opts.quantile_fraction
  if not is_number(o.quantile_fraction) or o.quantile_fraction < 0
      or o.quantile_fraction > 0.5 then
    fail("quantile_fraction must be between 0 and 0.5, got %s", tostring(o.quantile_fraction))
  end
  if opts.custom_explore_fn ~= nil and type(opts.custom_explore_fn) ~= "function" then
    fail("custom_explore_fn must be a function(config, rng) returning the new config, got %s",
      type(opts.custom_explore_fn))
  end
  o.custom_explore_fn = opts.custom_explore_fn
  for _, k in ipairs { "synch", "require_attrs" } do
    if opts[k] ~= nil and type(opts[k]) ~= "boolean" then
      fail("%s must be true or false, got %s", k, tostring(opts[k]))
    end
  end
  o.synch = opts.synch == true
  o.require_attrs = opts.require_attrs ~= false
  o.name = name
  o.state = {}
  o.next_sync = o.perturbation_interval > o.burn_in_period and o.perturbation_interval
    or o.burn_in_period
  o.num_perturbations, o.num_exploits = 0, 0
  return setmetatable(o, Pbt), fail
end

-- pbt's own options on top of M.new.
local function new_pbt(opts)
  local o, fail = M.new(opts, "pbt", {
    hyperparam_mutations = true, resample_probability = true, perturbation_factors = true,
  })
  opts = opts or {}
  local muts = opts.hyperparam_mutations
  if muts ~= nil then
    if type(muts) ~= "table" or dsl.is_domain(muts) or is_list(muts) then
      fail("hyperparam_mutations must be a table of key = list | domain | function, got %s",
        type(muts))
    end
    local err = check_mutations(muts, "hyperparam_mutations")
    if err then fail("%s", err) end
  end
  if (muts == nil or next(muts) == nil) and not o.custom_explore_fn then
    fail("give hyperparam_mutations or custom_explore_fn (or both): PBT needs something "
      .. "to explore")
  end
  o.mutations = muts or {}
  local p = opts.resample_probability == nil and 0.25 or opts.resample_probability
  if not is_number(p) or p < 0 or p > 1 then
    fail("resample_probability must be between 0 and 1, got %s", tostring(p))
  end
  o.resample_probability = p
  local f = opts.perturbation_factors == nil and { 1.2, 0.8 } or opts.perturbation_factors
  local ok = type(f) == "table" and is_list(f)
  for _, x in ipairs(ok and f or {}) do ok = ok and is_number(x) end
  if not ok then fail("perturbation_factors must be a list of numbers such as { 1.2, 0.8 }") end
  o.perturbation_factors = f
  return o
end

---------------------------------------------------------------------------
-- The scheduler
---------------------------------------------------------------------------

function Pbt:setup(exp)
  self.exp = exp
  self.rng = exp.rng
  self.metric = self.metric or exp.metric
  self.mode = self.mode or exp.mode
  if not self.metric or not self.mode then
    error(format("%s needs a metric and a mode: set metric = \"...\", mode = \"max\" | \"min\" "
      .. "in the experiment or in %s { ... }", self.name, self.name), 0)
  end
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
  if self.mutations then fill(trial.config, self.mutations, self.rng) end
end

local function finished(t)
  return t.status == "TERMINATED" or t.status == "ERROR"
end

-- Ray's _quantiles: the unfinished trials that have a score, sorted worst first (ties in the
-- order trials were added); the bottom and the top ceil(n · quantile_fraction), at most n/2
-- each; both empty with fewer than two trials. Returns lower, upper and the ranked list.
function Pbt:quantiles()
  local ranked = {}
  for _, t in ipairs(self.exp.trials) do
    local s = self.state[t.index]
    if s and s.last_score and not finished(t) then ranked[#ranked + 1] = t end
  end
  local state = self.state
  sort(ranked, function(a, b)
    local sa, sb = state[a.index].last_score, state[b.index].last_score
    if sa ~= sb then return sa < sb end
    return a.index < b.index
  end)
  local n = #ranked
  local lower, upper = {}, {}
  if n <= 1 then return lower, upper, ranked end
  local k = ceil(n * self.quantile_fraction)
  if k > n / 2 then k = floor(n / 2) end
  for i = 1, k do
    lower[i] = ranked[i]
    upper[i] = ranked[n - k + i]
  end
  return lower, upper, ranked
end

local function member(list, t)
  for i = 1, #list do
    if list[i] == t then return true end
  end
  return false
end

-- The config a bottom trial continues with: explore(clone.config). PB2 overrides it.
function Pbt:new_config(_trial, clone)
  return (M.explore(clone.config, self.mutations, self.resample_probability,
    self.perturbation_factors, self.custom_explore_fn, self.rng))
end

-- Called at each perturbation point with the trial's time and score (PB2 records data).
function Pbt.record() end

-- Whether the engine has something to copy from `clone`: under the simulate executor its
-- state always; otherwise a checkpoint (Ray skips the exploit when there is none).
function Pbt:can_clone(clone)
  return self.exp.executor == "simulate" or clone.checkpoint ~= nil
end

-- If `trial` is in the bottom quantile, picks a random top trial and the new config:
-- returns the exploit decision (or nil). Updates the trial's times as Ray's _exploit does.
function Pbt:exploit(trial, lower, upper)
  if not member(lower, trial) then return nil end
  local clone = self.rng:choice(upper)
  if not self:can_clone(clone) then return nil end
  local config = self:new_config(trial, clone)
  local st, cs = self.state[trial.index], self.state[clone.index]
  st.last_perturbation_time, st.last_train_time = cs.last_perturbation_time, cs.last_train_time
  self.num_exploits = self.num_exploits + 1
  return { exploit = clone, config = config }
end

-- Reads time_attr and the metric from a result; nil when one is missing (an error when
-- require_attrs, as in Ray).
function Pbt:read(trial, result)
  local time, score = result[self.time_attr], result[self.metric]
  if type(time) ~= "number" or type(score) ~= "number" then
    if self.require_attrs then
      error(format("%s: trial %s reported no %s '%s' (set require_attrs = false to ignore such "
        .. "results)", self.name, tostring(trial.id), type(time) ~= "number" and "time_attr"
        or "metric", type(time) ~= "number" and self.time_attr or self.metric), 0)
    end
    return nil
  end
  return time, self.sign * score
end

function Pbt:on_result(trial, result)
  local st = self.state[trial.index]
  if not st then
    self:on_trial_add(trial)
    st = self.state[trial.index]
  end
  local pending = st.pending
  if pending then
    -- synch: this trial was ranked at the last barrier while paused; it takes over now
    st.pending = nil
    return pending
  end
  local time, score = self:read(trial, result)
  if not time then return "continue" end
  if time < self.burn_in_period then return "continue" end
  if time - st.last_perturbation_time < self.perturbation_interval then return "continue" end
  st.last_score, st.last_train_time = score, time
  self:record(trial, time, score)
  self.num_perturbations = self.num_perturbations + 1
  if not self.synch then
    st.last_perturbation_time = time
    local lower, upper = self:quantiles()
    local d = self:exploit(trial, lower, upper)
    if d then return d end
    for _, t in ipairs(self.exp.trials) do
      if t ~= trial and (t.status == "PENDING" or t.status == "PAUSED") then return "pause" end
    end
    return "continue"
  end
  if self:synced(trial) then self:perturb_all(time) end
  return "pause"
end

-- synch: whether every live trial other than `except` has reached the next sync point.
function Pbt:synced(except)
  for _, t in ipairs(self.exp.trials) do
    if t ~= except and not finished(t) and self.state[t.index].last_train_time < self.next_sync
    then
      return false
    end
  end
  return true
end

-- synch: ranks the whole population at the barrier, top trials first and bottom last (Ray's
-- order), and gives each bottom trial its exploit, applied at its next result: like Ray, every
-- trial is paused at the barrier (so that the engine restarts them all), and the engine cannot
-- exploit a paused trial. Then moves the barrier on.
function Pbt:perturb_all(time)
  local lower, upper, ranked = self:quantiles()
  local order = {}
  for _, t in ipairs(upper) do order[#order + 1] = t end
  for _, t in ipairs(ranked) do
    if not member(upper, t) and not member(lower, t) then order[#order + 1] = t end
  end
  for _, t in ipairs(lower) do order[#order + 1] = t end
  for _, t in ipairs(order) do
    self.state[t.index].last_perturbation_time = time
    self.state[t.index].pending = self:exploit(t, lower, upper)
  end
  local latest = 0
  for _, t in ipairs(self.exp.trials) do
    local lt = self.state[t.index].last_train_time
    if lt > latest then latest = lt end
  end
  local nxt = self.next_sync + self.perturbation_interval
  self.next_sync = nxt > latest and nxt or latest
end

-- synch: a trial that ends may be the one the others were waiting for.
function Pbt:on_trial_complete()
  if not self.synch then return end
  local waiting, latest = false, 0
  for _, t in ipairs(self.exp.trials) do
    local lt = self.state[t.index] and self.state[t.index].last_train_time or 0
    if not finished(t) and t.status == "PAUSED" and lt >= self.next_sync then
      waiting = true
      if lt > latest then latest = lt end
    end
  end
  if waiting and self:synced(nil) then self:perturb_all(latest) end
end
Pbt.on_trial_error = Pbt.on_trial_complete

-- Ray's choose_trial_to_run: the PENDING or PAUSED trial with the least training time (under
-- synch, only those behind the next sync point), so the population advances evenly. Among
-- equals, a trial with an exploit pending goes last, so that it copies its source after the
-- source's own next step rather than before.
function Pbt:choose_trial_to_run()
  local best, best_lt, best_key
  for _, t in ipairs(self.exp.trials) do
    if t.status == "PENDING" or t.status == "PAUSED" then
      local st = self.state[t.index]
      local lt = st and st.last_train_time or 0
      local key = st and st.pending and 1 or 0
      if (not self.synch or lt < self.next_sync)
          and (not best or lt < best_lt or (lt == best_lt and key < best_key)) then
        best, best_lt, best_key = t, lt, key
      end
    end
  end
  return best
end

-- The constructor: errors carry the position of the experiment file's call.
return setmetatable(M, {
  __call = function(_, opts)
    local ok, obj = pcall(new_pbt, opts)
    if not ok then error(obj, 2) end
    return obj
  end,
})
