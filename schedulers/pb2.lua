-- Population Based Bandits (PB2; Parker-Holder, Nguyen and Roberts, NeurIPS 2020), as Ray
-- Tune's PB2: PBT's exploit step, with the explore step chosen by a GP-UCB bandit instead of
-- random perturbations.
--
-- At every perturbation point a trial adds a row (time, its hyperparameters, its score).
-- Rows of one trial with the same hyperparameters, in time order, give data points
--   x = (time, score before, hyperparameters)  ->  y = (score change) / (time change).
-- When a bottom trial clones a top one, a GP with the time-varying kernel
-- (lua/tunelua/gp.lua) is fitted to the newest points (inputs scaled to [0, 1]: time and
-- score by their range in the data, hyperparameters by hyperparam_bounds; y standardized and
-- clipped to [-2, 2]), and the new hyperparameters maximize
--   UCB(h) = mean(t, r, h) + kappa · sd'(t, r, h),   kappa = sqrt(max(0, 0.2 · log(0.4 · n)))
-- at the clone's (time, score before), over h in the bounds. sd' comes from the same GP with
-- the points already chosen in this round added (with y = 0), so that one round's picks
-- spread out. Until the clone has a data point, the exploit copies its config unchanged.
local pbt = require "schedulers.pbt"
local gp = require "tunelua.gp"
local dsl = require "tunelua.dsl"
local explore = require "tunelua.explore"
local options = require "tunelua.options"
local tables = require "tunelua.tables"

local type, pairs, ipairs, error, tostring = type, pairs, ipairs, error, tostring
local setmetatable, next, unpack = setmetatable, next, unpack
local floor, ceil, log, sqrt, max = math.floor, math.ceil, math.log, math.sqrt, math.max
local format, sort, concat = string.format, table.sort, table.concat
local get, set, scale = tables.get, tables.set, gp.scale

local Pb2 = setmetatable({}, { __index = pbt.Pbt })
Pb2.__index = Pb2

-- Newest data points the GP sees (Ray keeps 1000 and cross-validates a window of >= 200).
local MAX_POINTS = 200

local function is_bound(v)
  return type(v) == "table" and #v == 2 and type(v[1]) == "number" and type(v[2]) == "number"
end

-- hyperparam_bounds flattened to { { keys = {...}, name = "a.b", lo =, hi = } }, sorted by
-- name; nil and a message for a malformed table.
local function flatten(bounds, prefix, keys, out)
  local names = {}
  for k in pairs(bounds) do names[#names + 1] = k end
  sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(names) do
    local v = bounds[k]
    local path = { unpack(keys) }
    path[#path + 1] = k
    local name = prefix == "" and tostring(k) or prefix .. "." .. tostring(k)
    local numbers = type(v) == "table" and #v > 0
    for _, x in ipairs(numbers and v or {}) do numbers = numbers and type(x) == "number" end
    if numbers and not is_bound(v) then
      return nil, format("hyperparam_bounds.%s must be { low, high } (two numbers), got %d "
        .. "numbers", name, #v)
    elseif is_bound(v) then
      if v[1] >= v[2] then
        return nil, format("hyperparam_bounds.%s must be { low, high } with low < high, got "
          .. "{ %s, %s }", name, tostring(v[1]), tostring(v[2]))
      end
      out[#out + 1] = { keys = path, name = name, lo = v[1], hi = v[2] }
    elseif type(v) == "table" and next(v) ~= nil then
      local _, err = flatten(v, name, path, out)
      if err then return nil, err end
    else
      return nil, format("hyperparam_bounds.%s must be { low, high } (two numbers) or a table "
        .. "of nested bounds, got %s", name, type(v) == "table" and "a table" or tostring(v))
    end
  end
  return out
end

function Pb2:on_trial_add(trial)
  pbt.Pbt.on_trial_add(self, trial)
  for _, b in ipairs(self.bounds) do
    if get(trial.config, b.keys) == nil then
      set(trial.config, b.keys, self.rng:uniform(b.lo, b.hi))
    end
  end
end

-- Ray's _save_trial_state addition: one data row per perturbation point.
function Pb2:record(trial, time, score)
  local values = {}
  for i, b in ipairs(self.bounds) do
    local v = get(trial.config, b.keys)
    if type(v) ~= "number" then
      error(format("pb2: trial %s has config.%s = %s, not a number", tostring(trial.id), b.name,
        tostring(v)), 0)
    end
    values[i] = v
  end
  local rows = self.rows
  rows[#rows + 1] = { trial = trial.index, time = time, values = values, reward = score,
    seq = #rows + 1 }
end

-- The data points (see the header), sorted by time, the newest MAX_POINTS of them.
function Pb2:points()
  local rows = {}
  for i, r in ipairs(self.rows) do rows[i] = r end
  sort(rows, function(a, b)
    if a.time ~= b.time then return a.time < b.time end
    return a.seq < b.seq
  end)
  local last, pts = {}, {}
  for _, r in ipairs(rows) do
    local key = r.trial .. "|" .. concat(r.values, "|")
    local prev = last[key]
    if prev and r.time - prev.time > 0 then
      pts[#pts + 1] = { trial = r.trial, time = r.time, before = prev.reward,
        y = (r.reward - prev.reward) / (r.time - prev.time), reward = r.reward }
      for i, v in ipairs(r.values) do pts[#pts][2 + i] = v end
    end
    last[key] = r
  end
  local first = max(1, #pts - MAX_POINTS + 1)
  local out = {}
  for i = first, #pts do out[#out + 1] = pts[i] end
  return out
end

-- GP-UCB over the hyperparameters, at the clone's newest (time, score before). Returns the
-- list of new values in [lo, hi], or nil while the clone has no data point.
function Pb2:select(clone)
  local pts = self:points()
  local base
  for i = #pts, 1, -1 do
    if pts[i].trial == clone.index then
      base = pts[i]
      break
    end
  end
  if not base then return nil end
  local bounds = self.bounds
  local tlo, thi = gp.range(pts, "time")
  local rlo, rhi = gp.range(pts, "before")
  -- GP inputs in [0, 1]: time, score before, and the hyperparameters values[off + k]
  local function row(time, before, values, off)
    local r = { scale(time, tlo, thi), scale(before, rlo, rhi) }
    for k, b in ipairs(bounds) do r[2 + k] = scale(values[off + k], b.lo, b.hi) end
    return r
  end
  local X, ys, chosen = {}, {}, {}
  for i, p in ipairs(pts) do X[i], ys[i] = row(p.time, p.before, p, 2), p.y end
  for i, values in ipairs(self.current or {}) do
    chosen[i] = row(base.time, base.before, values, 0)
  end
  local m = gp.fit(X, gp.standardize(ys, 2))
  local beta = 0.2 * log(0.4 * #pts)
  local kappa = beta > 0 and sqrt(beta) or 0
  local fixed = { scale(base.time, tlo, thi), scale(base.before, rlo, rhi) }
  local z = gp.maximize_ucb(m, m:with_pending(chosen), fixed, #bounds, kappa, self.rng, 256, 64)
  local values = {}
  for k, b in ipairs(bounds) do values[k] = b.lo + z[k] * (b.hi - b.lo) end
  return values, base
end

-- PB2's explore (Ray's pb2 explore and _get_new_config).
function Pb2:new_config(trial, clone)
  local maxtime = -math.huge
  for _, r in ipairs(self.rows) do maxtime = max(maxtime, r.time) end
  if maxtime > self.last_exploration_time then self.current = nil end
  local config = tables.deepcopy(clone.config)
  local values, base = self:select(clone)
  if values then
    for k, b in ipairs(self.bounds) do
      local x = values[k]
      -- Ray keeps integer hyperparameters integers: those the search space samples as such
      local d = get(self.exp.space, b.keys)
      if dsl.is_domain(d) and d.is_int then
        x = x >= 0 and floor(x) or ceil(x)
        values[k] = x
      end
      set(config, b.keys, x)
    end
    local rows = self.rows
    rows[#rows + 1] = { trial = trial.index, time = base.time, values = values,
      reward = base.reward, seq = #rows + 1 }
    maxtime = max(maxtime, base.time)
    if maxtime > self.last_exploration_time then
      self.last_exploration_time = maxtime
      self.current = { values }
    else
      self.current = self.current or {}
      self.current[#self.current + 1] = values
    end
  end
  if self.custom_explore_fn then
    config = explore.custom(self.custom_explore_fn, config, self.rng, "pb2: ")
  end
  return config
end

-- The constructor (the module's __call): pbt's options, less the mutations, plus
-- hyperparam_bounds.
local function new_pb2(_, opts)
  local o = pbt.new("pb2", opts, { hyperparam_bounds = { nil, "any" } })
  local hb = o.hyperparam_bounds
  if type(hb) ~= "table" or next(hb) == nil then
    options.fail("pb2", 2, "hyperparam_bounds must be given: a table of key = { low, high } for "
      .. "the continuous hyperparameters to tune")
  end
  local bounds, err = flatten(hb, "", {}, {})
  if not bounds then options.fail("pb2", 2, "%s", err) end
  o.bounds, o.hyperparam_bounds, o.rows, o.last_exploration_time = bounds, nil, {}, 0
  return setmetatable(o, Pb2)
end

return setmetatable({ Pb2 = Pb2 }, { __call = new_pb2 })
