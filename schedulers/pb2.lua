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

local type, pairs, ipairs, error, tostring, pcall = type, pairs, ipairs, error, tostring, pcall
local setmetatable, next, unpack = setmetatable, next, unpack
local floor, ceil, log, sqrt, min, max = math.floor, math.ceil, math.log, math.sqrt, math.min,
  math.max
local format, sort, concat = string.format, table.sort, table.concat

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

local function get(config, keys)
  local v = config
  for i = 1, #keys do
    if type(v) ~= "table" then return nil end
    v = v[keys[i]]
  end
  return v
end

local function set(config, keys, x)
  local v = config
  for i = 1, #keys - 1 do
    if type(v[keys[i]]) ~= "table" then v[keys[i]] = {} end
    v = v[keys[i]]
  end
  v[keys[#keys]] = x
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

local function scale(x, lo, hi)
  if hi > lo then return (x - lo) / (hi - lo) end
  return 0
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
  local tlo, thi, rlo, rhi = math.huge, -math.huge, math.huge, -math.huge
  local mean, sq = 0, 0
  for _, p in ipairs(pts) do
    tlo, thi = min(tlo, p.time), max(thi, p.time)
    rlo, rhi = min(rlo, p.before), max(rhi, p.before)
    mean = mean + p.y
  end
  local n = #pts
  mean = mean / n
  for _, p in ipairs(pts) do sq = sq + (p.y - mean) ^ 2 end
  local sd = sqrt(sq / n) + 1e-8
  local X, y = {}, {}
  local bounds = self.bounds
  for i, p in ipairs(pts) do
    local row = { scale(p.time, tlo, thi), scale(p.before, rlo, rhi) }
    for k, b in ipairs(bounds) do row[2 + k] = scale(p[2 + k], b.lo, b.hi) end
    X[i] = row
    y[i] = min(2, max(-2, (p.y - mean) / sd))
  end
  local fixed = { scale(base.time, tlo, thi), scale(base.before, rlo, rhi) }
  local m = gp.fit(X, y)
  local m1 = m
  if self.current then
    local X1, y1 = {}, {}
    for i = 1, n do X1[i], y1[i] = X[i], y[i] end
    for _, values in ipairs(self.current) do
      local row = { fixed[1], fixed[2] }
      for k, b in ipairs(bounds) do row[2 + k] = scale(values[k], b.lo, b.hi) end
      X1[#X1 + 1], y1[#y1 + 1] = row, 0
    end
    m1 = m:refit(X1, y1) or m
  end
  local beta = 0.2 * log(0.4 * n)
  local kappa = beta > 0 and sqrt(beta) or 0
  local z = gp.maximize_ucb(m, m1, fixed, #bounds, kappa, self.rng, 256, 64)
  local values = {}
  for k, b in ipairs(bounds) do values[k] = b.lo + z[k] * (b.hi - b.lo) end
  return values, base
end

-- PB2's explore (Ray's pb2 explore and _get_new_config).
function Pb2:new_config(trial, clone)
  local maxtime = -math.huge
  for _, r in ipairs(self.rows) do maxtime = max(maxtime, r.time) end
  if maxtime > self.last_exploration_time then self.current = nil end
  local config = pbt.deepcopy(clone.config)
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
    config = self.custom_explore_fn(config, self.rng)
    if type(config) ~= "table" then
      error("pb2: custom_explore_fn must return the new config table, got " .. type(config), 0)
    end
  end
  return config
end

local function new_pb2(opts)
  local o, fail = pbt.new(opts, "pb2", { hyperparam_bounds = true })
  local hb = (opts or {}).hyperparam_bounds
  if type(hb) ~= "table" or next(hb) == nil then
    fail("hyperparam_bounds must be given: a table of key = { low, high } for the continuous "
      .. "hyperparameters to tune")
  end
  local bounds, err = flatten(hb, "", {}, {})
  if not bounds then fail("%s", err) end
  o.bounds = bounds
  o.rows = {}
  o.current = nil
  o.last_exploration_time = 0
  return setmetatable(o, Pb2)
end

return setmetatable({ Pb2 = Pb2 }, {
  __call = function(_, opts)
    local ok, obj = pcall(new_pb2, opts)
    if not ok then error(obj, 2) end
    return obj
  end,
})
