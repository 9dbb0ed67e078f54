-- PBT's explore step, rule for rule as Ray Tune's _explore and _fill_config, and the check of
-- a hyperparam_mutations table. schedulers/pbt.lua (and pb2.lua, for custom_explore_fn) use
-- it; `require("schedulers.pbt").explore` is the same function.
--
-- A hyperparam_mutations entry is one of these kinds:
--   "list":     categorical values, perturbed to a neighbour;
--   "domain":   a tune.uniform, tune.choice ... domain, continuous: multiplied by a factor;
--   "function": fn(rng) giving a fresh value, continuous as a domain;
--   "nested":   a table of further mutations for a nested config table: named keys, or a
--               list whose elements are all domains or functions, which mutates a
--               list-valued config element-wise.
-- Keys are visited in dsl.sorted_keys order (numbers before strings), so explore draws from
-- the rng in the same order on every run (Ray follows the dict's insertion order).
local dsl = require "tunelua.dsl"
local tables = require "tunelua.tables"

local type, pairs, ipairs, next, error, tostring = type, pairs, ipairs, next, error, tostring
local floor, ceil, huge = math.floor, math.ceil, math.huge
local format = string.format
local deepcopy, sorted_keys = tables.deepcopy, dsl.sorted_keys

local M = {}

local SHIFTS = { -1, 1 }

-- The kind of a mutation entry (see the header), or nil for what cannot be one.
local function kind_of(v)
  local t = type(v)
  if t == "function" then return "function" end
  if t ~= "table" then return nil end
  if dsl.is_domain(v) then return "domain" end
  if next(v) == nil then return nil end
  if not tables.is_list(v) then return "nested" end
  for _, x in ipairs(v) do
    if type(x) ~= "function" and not dsl.is_domain(x) then return "list" end
  end
  return "nested"
end

-- Whether a perturbed value must stay an integer: an integer domain says so; for a choice
-- domain, a function or a list the original value decides (Python's `type(x) is int`).
local function keeps_int(dist, value)
  if dsl.is_domain(dist) and dist.kind ~= "choice" then return dist.is_int == true end
  return value == floor(value) and value > -huge and value < huge
end

-- Checks the entries of a mutations table recursively; returns an error message or nil.
local function check_entries(t, path)
  for k, v in pairs(t) do
    local where = path .. "." .. tostring(k)
    local kind = kind_of(v)
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
      local err = check_entries(v, where)
      if err then return err end
    end
  end
end

-- An error message for a malformed hyperparam_mutations table (naming the offending key as
-- "hyperparam_mutations.a.b"), or nil when it is well formed.
function M.check(muts)
  if type(muts) ~= "table" or dsl.is_domain(muts) or tables.is_list(muts) then
    return format("hyperparam_mutations must be a table of key = list | domain | function, "
      .. "got %s", type(muts))
  end
  return check_entries(muts, "hyperparam_mutations")
end

-- custom_explore_fn(config, rng), which must return the config; `prefix` starts the error.
function M.custom(fn, config, rng, prefix)
  config = fn(config, rng)
  if type(config) ~= "table" then
    error((prefix or "") .. "custom_explore_fn must return the new config table, got "
      .. type(config), 0)
  end
  return config
end

-- A list entry: with probability p, or when the current value is not in the list, a
-- uniformly chosen element ("resample"); else the left or right neighbour, 50/50, clamped at
-- the ends ("shift left", "shift right", " (noop)" appended when clamped).
local function perturb_list(list, value, p, rng)
  local i = tables.index_of(list, value)
  if rng:random() < p or not i then return deepcopy(rng:choice(list)), "resample" end
  local shift = rng:choice(SHIFTS)
  local j = i + shift
  if j < 1 then j = 1 elseif j > #list then j = #list end
  return deepcopy(list[j]), (shift < 0 and "shift left" or "shift right")
    .. (i == j and " (noop)" or "")
end

-- A domain or function entry: with probability p a fresh sample (dsl.sample, or fn(rng),
-- "resample"); else the value times a factor chosen uniformly from `factors` ("* 1.2"). A
-- value that was an integer is truncated back to one (Python's int()).
local function perturb_number(dist, kind, value, p, factors, rng, where)
  if type(value) ~= "number" then
    error(format("%s = %s cannot be perturbed by a factor (not a number): give a list of "
      .. "values in hyperparam_mutations instead", where, tostring(value)), 0)
  end
  local x, op
  if rng:random() < p then
    if kind == "domain" then x = dsl.sample(dist, rng) else x = dist(rng) end
    if type(x) ~= "number" then
      error(format("resampling %s gave %s, not a number", where, tostring(x)), 0)
    end
    op = "resample"
  else
    local f = rng:choice(factors)
    x, op = value * f, "* " .. tostring(f)
  end
  if keeps_int(dist, value) then x = x >= 0 and floor(x) or ceil(x) end
  return x, op
end

-- A perturbed deep copy of config, and a table of what was done to each key of `mutations`
-- (nested tables recurse), then custom_fn(new_config, rng) when given. The input config is
-- not modified. Errors (level 0) name the config key as "config.a.b".
function M.explore(config, mutations, p, factors, custom_fn, rng, path)
  path = path or "config"
  local new, ops = deepcopy(config), {}
  for _, key in ipairs(sorted_keys(mutations)) do
    local dist, kind = mutations[key], kind_of(mutations[key])
    local value, where = config[key], path .. "." .. tostring(key)
    if kind == "nested" then
      if type(value) ~= "table" then
        error(format("%s is a %s, but hyperparam_mutations nests a table there", where,
          type(value)), 0)
      end
      new[key], ops[key] = M.explore(value, dist, p, factors, nil, rng, where)
    elseif kind == "list" then
      new[key], ops[key] = perturb_list(dist, value, p, rng)
    else
      new[key], ops[key] = perturb_number(dist, kind, value, p, factors, rng, where)
    end
  end
  if custom_fn then new = M.custom(custom_fn, new, rng) end
  return new, ops
end

-- Ray's _fill_config: gives each mutated key that config lacks a value drawn from its
-- mutation (a nested table is created when missing). Modifies config.
function M.fill(config, mutations, rng)
  for _, key in ipairs(sorted_keys(mutations)) do
    local dist, kind = mutations[key], kind_of(mutations[key])
    if kind == "nested" then
      if config[key] == nil then config[key] = {} end
      if type(config[key]) == "table" then M.fill(config[key], dist, rng) end
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

M.kind = kind_of

return M
