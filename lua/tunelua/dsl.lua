-- The search-space DSL: domains with Ray Tune's meaning, and the walks over a
-- config table that searchers need (validate, grid, resolve, paths).
--
-- A domain is a table with a shared metatable. Constructors never raise: a
-- domain built from wrong arguments keeps the reason in `err`, and
-- dsl.validate reports it with the file:line where the constructor was called
-- and the parameter's path in the config.
--
-- Paths. A parameter's path is a string that reads like Lua code relative to
-- the config table: `optim.lr`, `layers[2].units`, `["odd key"]`. Keys are
-- visited in sorted order at every level (numbers before strings), depth
-- first; that order is "sorted path order" everywhere below. Messages prefix
-- the path with "config" (`config.optim.lr`).
--
-- Grid assignments. dsl.grid returns an array of assignments; an assignment
-- is a table mapping a path string to the value for that path. dsl.resolve
-- takes such a table and uses it for every domain whose path it names (any
-- kind of domain, not only grid_search), so a searcher can fix some values
-- and let resolve sample the rest.

local type, pairs, ipairs, next, tostring, error, pcall, select =
  type, pairs, ipairs, next, tostring, error, pcall, select
local setmetatable, getmetatable = setmetatable, getmetatable
local floor, ceil, abs, max, min, log, exp, huge =
  math.floor, math.ceil, math.abs, math.max, math.min, math.log, math.exp, math.huge
local format, concat, sort = string.format, table.concat, table.sort
local getinfo = debug.getinfo

local M = {}

local Domain = {}
Domain.__index = Domain

local function is_domain(v)
  return type(v) == "table" and getmetatable(v) == Domain
end
M.is_domain = is_domain

---------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------

-- Round half to even, as numpy's np.round does (Ray quantizes with it).
local function round(x)
  local f = floor(x)
  local d = x - f
  if d > 0.5 then
    return f + 1
  elseif d < 0.5 then
    return f
  end
  return (f % 2 == 0) and f or f + 1
end
M.round = round

local function fmt(v)
  local t = type(v)
  if t == "number" then
    return format("%.14g", v)
  elseif t == "string" then
    return format("%q", v)
  elseif is_domain(v) then
    return tostring(v)
  elseif t == "table" then
    local n = #v
    if n == 0 and next(v) == nil then
      return "{}"
    elseif n > 0 and n <= 5 then
      local parts = {}
      for i = 1, n do
        local e = v[i]
        parts[i] = (type(e) == "table" and not is_domain(e)) and "{...}" or fmt(e)
      end
      return "{" .. concat(parts, ", ") .. "}"
    end
    return format("{%d items}", n)
  end
  return tostring(v)
end

-- Numbers first (by value), then strings, then anything else by type name:
-- a total order so sorting never fails on odd keys (validate rejects them).
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb and (ta == "number" or ta == "string") then
    return a < b
  end
  if ta == "number" then return true end
  if tb == "number" then return false end
  if ta == "string" then return true end
  if tb == "string" then return false end
  if ta ~= tb then return ta < tb end
  return tostring(a) < tostring(b)
end

local function sorted_keys(t)
  local ks, n = {}, 0
  for k in pairs(t) do
    n = n + 1
    ks[n] = k
  end
  sort(ks, key_less)
  return ks
end
M.sorted_keys = sorted_keys

-- Appends key k to a relative path string.
local function join(path, k)
  if type(k) == "number" then
    return path .. "[" .. fmt(k) .. "]"
  elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
    return path == "" and k or path .. "." .. k
  end
  return path .. "[" .. fmt(k) .. "]"
end
M.join = join

-- The path as users read it: "config.optim.lr", "config[1]".
local function full(prefix, path)
  if path == "" then return prefix end
  if path:sub(1, 1) == "[" then return prefix .. path end
  return prefix .. "." .. path
end
M.full_path = full

-- Frames inside the tunelua library are skipped, so `where` is the user's
-- line even when tunelua.lua wraps the constructors.
local own_source = getinfo(1, "S").source

local function is_library(src)
  return src == own_source or src:find("[/\\]tunelua%.lua$") ~= nil or src == "@tunelua.lua"
    or src:find("[/\\]tunelua[/\\][%w_]+%.lua$") ~= nil
end

local function caller_where()
  local level = 3
  while true do
    local info = getinfo(level, "Sl")
    if not info then return "?" end
    if info.what ~= "C" and not is_library(info.source) then
      return info.short_src .. ":" .. (info.currentline or 0)
    end
    level = level + 1
  end
end

---------------------------------------------------------------------------
-- Domains
---------------------------------------------------------------------------

function Domain.__tostring(d)
  local n = d.nargs or 0
  local parts = {}
  for i = 1, n do
    parts[i] = fmt(d.args[i])
  end
  return d.kind .. "(" .. concat(parts, ", ") .. ")"
end

-- args keeps what the user passed, for messages; trailing nils are dropped
-- so "loguniform(0, 1)" does not show the defaulted base.
local function new_domain(kind, where, ...)
  local args, n = { ... }, select("#", ...)
  while n > 0 and args[n] == nil do
    n = n - 1
  end
  return setmetatable({ kind = kind, where = where, args = args, nargs = n }, Domain)
end

local function bad_number(v, name)
  if type(v) ~= "number" or v ~= v then
    return name .. " must be a number"
  elseif v == huge or v == -huge then
    return name .. " must be finite"
  end
end

local function bad_integer(v, name)
  local e = bad_number(v, name)
  if e then return e end
  if floor(v) ~= v then return name .. " must be an integer" end
end

-- Ray's check that a float bound is a multiple of q: isclose(x/q, round(x/q)).
local function is_multiple(x, q)
  local r = x / q
  local n = round(r)
  return abs(r - n) <= 1e-9 * max(abs(r), abs(n))
end

-- Sets d.err to "kind(args): reason" (the first reason found), or leaves it.
local function fail(d, reason)
  if reason and not d.err then
    d.err = tostring(d) .. ": " .. reason
  end
  return d
end

local function check_range(d, lo, hi, int)
  local check = int and bad_integer or bad_number
  local e = check(lo, "low") or check(hi, "high")
  if e then return fail(d, e) end
  if lo >= hi then return fail(d, "low must be < high") end
  d.low, d.high = lo, hi
end

local function check_log(d, base)
  if d.err then return end
  if d.low <= 0 then return fail(d, "low must be > 0") end
  local e = bad_number(base, "base")
  if e then return fail(d, e) end
  if base <= 0 or base == 1 then return fail(d, "base must be > 0 and ~= 1") end
  d.base, d.is_log = base, true
end

-- Quantization: float domains follow Ray (bounds must be multiples of q);
-- integer domains need an integer q and at least one multiple in range.
local function check_q(d, q, int)
  if d.err then return end
  local e = (int and bad_integer or bad_number)(q, "q")
  if e then return fail(d, e) end
  if q <= 0 then return fail(d, "q must be > 0") end
  d.q = q
  if d.low == nil then return end
  if int then
    d.klo, d.khi = ceil(d.low / q), floor(d.high / q)
    if d.klo > d.khi then return fail(d, "no multiple of q between low and high") end
  else
    if not is_multiple(d.low, q) then return fail(d, "low must be a multiple of q") end
    if not is_multiple(d.high, q) then return fail(d, "high must be a multiple of q") end
    d.klo, d.khi = round(d.low / q), round(d.high / q)
  end
end

-- uniform(low, high): a float in [low, high).
function M.uniform(low, high)
  local d = new_domain("uniform", caller_where(), low, high)
  check_range(d, low, high, false)
  return d
end

-- quniform(low, high, q): uniform, then round(x / q) * q; high included.
function M.quniform(low, high, q)
  local d = new_domain("quniform", caller_where(), low, high, q)
  check_range(d, low, high, false)
  check_q(d, q, false)
  return d
end

-- loguniform(low, high, base = 10): log-uniform float in [low, high).
function M.loguniform(low, high, base)
  local d = new_domain("loguniform", caller_where(), low, high, base)
  check_range(d, low, high, false)
  check_log(d, base == nil and 10 or base)
  return d
end

function M.qloguniform(low, high, q, base)
  local d = new_domain("qloguniform", caller_where(), low, high, q, base)
  check_range(d, low, high, false)
  check_log(d, base == nil and 10 or base)
  check_q(d, q, false)
  return d
end

-- randn(mean = 0, sd = 1): normal float.
function M.randn(mean, sd)
  local d = new_domain("randn", caller_where(), mean, sd)
  mean = mean == nil and 0 or mean
  sd = sd == nil and 1 or sd
  fail(d, bad_number(mean, "mean") or bad_number(sd, "sd"))
  if not d.err and sd <= 0 then fail(d, "sd must be > 0") end
  d.mean, d.sd = mean, sd
  return d
end

function M.qrandn(mean, sd, q)
  local d = new_domain("qrandn", caller_where(), mean, sd, q)
  fail(d, bad_number(mean, "mean") or bad_number(sd, "sd"))
  if not d.err and sd <= 0 then fail(d, "sd must be > 0") end
  d.mean, d.sd = mean, sd
  check_q(d, q, false)
  return d
end

-- randint(low, high): integer in [low, high), high excluded.
function M.randint(low, high)
  local d = new_domain("randint", caller_where(), low, high)
  check_range(d, low, high, true)
  d.is_int = true
  return d
end

-- qrandint(low, high, q = 1): a multiple of q in [low, high], high included.
function M.qrandint(low, high, q)
  local d = new_domain("qrandint", caller_where(), low, high, q)
  check_range(d, low, high, true)
  check_q(d, q == nil and 1 or q, true)
  d.is_int = true
  return d
end

-- lograndint(low, high, base = 10): log-uniform integer in [low, high).
function M.lograndint(low, high, base)
  local d = new_domain("lograndint", caller_where(), low, high, base)
  check_range(d, low, high, true)
  check_log(d, base == nil and 10 or base)
  d.is_int = true
  return d
end

-- qlograndint(low, high, q, base = 10): log-uniform multiple of q in
-- [low, high], high included.
function M.qlograndint(low, high, q, base)
  local d = new_domain("qlograndint", caller_where(), low, high, q, base)
  check_range(d, low, high, true)
  check_log(d, base == nil and 10 or base)
  check_q(d, q, true)
  d.is_int = true
  return d
end

-- Copies a list argument so later edits to the caller's table do not change
-- the domain.
local function check_list(d, list)
  if type(list) ~= "table" or is_domain(list) then
    return fail(d, "expects a list of values")
  end
  local n = #list
  if n == 0 then return fail(d, "list must not be empty") end
  local values = {}
  for i = 1, n do
    values[i] = list[i]
  end
  d.values = values
end

-- choice(list): one of the values, uniformly. A chosen table that contains
-- domains is resolved in turn.
function M.choice(list)
  local d = new_domain("choice", caller_where(), list)
  check_list(d, list)
  return d
end

-- grid_search(list): every value, one per grid point.
function M.grid_search(list)
  local d = new_domain("grid_search", caller_where(), list)
  check_list(d, list)
  return d
end

-- sample_from(fn): fn(config, rng) is called after every other value is
-- resolved; it may return a domain, which is then sampled.
function M.sample_from(fn)
  local d = new_domain("sample_from", caller_where(), fn)
  if type(fn) ~= "function" then
    fail(d, "expects a function, got " .. type(fn))
  end
  d.fn = fn
  return d
end

---------------------------------------------------------------------------
-- Sampling one domain
---------------------------------------------------------------------------

-- One value of a numeric domain, drawn with rng. choice returns the raw
-- chosen value (resolve handles tables in it); grid_search and sample_from
-- cannot be sampled on their own.
local function sample(d, rng)
  local kind = d.kind
  if d.err then
    error(d.where .. ": " .. d.err, 0)
  end
  if kind == "uniform" then
    local x
    repeat x = rng:uniform(d.low, d.high) until x < d.high
    return x
  elseif kind == "loguniform" then
    local x
    repeat x = exp(rng:uniform(log(d.low), log(d.high))) until x < d.high
    return max(x, d.low)
  elseif kind == "quniform" then
    local q = d.q
    local k = round(rng:uniform(d.klo * q, d.khi * q) / q)
    return min(max(k, d.klo), d.khi) * q + 0
  elseif kind == "qloguniform" then
    local q = d.q
    local k = round(exp(rng:uniform(log(d.klo * q), log(d.khi * q))) / q)
    return min(max(k, d.klo), d.khi) * q + 0
  elseif kind == "randn" then
    return rng:normal(d.mean, d.sd)
  elseif kind == "qrandn" then
    return round(rng:normal(d.mean, d.sd) / d.q) * d.q + 0
  elseif kind == "randint" then
    return rng:int(d.low, d.high - 1)
  elseif kind == "qrandint" then
    return rng:int(d.klo, d.khi) * d.q
  elseif kind == "lograndint" then
    local x = floor(exp(rng:uniform(log(d.low), log(d.high))))
    return min(max(x, d.low), d.high - 1)
  elseif kind == "qlograndint" then
    local q = d.q
    local k = round(exp(rng:uniform(log(d.klo * q), log(d.khi * q))) / q)
    return min(max(k, d.klo), d.khi) * q
  elseif kind == "choice" then
    return d.values[rng:int(1, #d.values)]
  end
  error(d.where .. ": " .. kind .. " cannot be sampled on its own", 0)
end
M.sample = sample
Domain.sample = sample

-- The valid value of a numeric domain nearest to x: quantized, integer,
-- clamped to the domain's range (the upper bound of a continuous range is
-- allowed). Searchers that propose raw numbers (grid points, TPE, BO) use it.
function M.snap(d, x)
  local kind = d.kind
  if d.q then
    local k = round(x / d.q)
    if d.klo then k = min(max(k, d.klo), d.khi) end
    return k * d.q + 0
  elseif kind == "randint" or kind == "lograndint" then
    return min(max(round(x), d.low), d.high - 1)
  elseif d.low then
    return min(max(x, d.low), d.high)
  end
  return x
end

---------------------------------------------------------------------------
-- Walking a space
---------------------------------------------------------------------------

-- Keys of one table must be all strings, or exactly 1..n (a list).
local function check_keys(t, path, prefix)
  local nnum, nstr = 0, 0
  for k in pairs(t) do
    local tk = type(k)
    if tk == "string" then
      nstr = nstr + 1
    elseif tk == "number" and k >= 1 and floor(k) == k then
      nnum = nnum + 1
    else
      error(full(prefix, path) .. ": key " .. fmt(k) .. " is not a string or list index", 0)
    end
  end
  if nnum > 0 and nstr > 0 then
    error(full(prefix, path) .. ": table mixes list items and named keys", 0)
  end
  if nnum > 0 and #t ~= nnum then
    error(full(prefix, path) .. ": list has holes", 0)
  end
end

local validate_table

local function validate_value(v, path, prefix, stack, in_value)
  if is_domain(v) then
    local fp = full(prefix, path)
    if v.err then
      error(v.where .. ": " .. fp .. ": " .. v.err, 0)
    end
    if in_value and v.kind == "grid_search" then
      error(v.where .. ": " .. fp .. ": grid_search inside a choice or grid_search value"
            .. " is not supported", 0)
    end
    if v.values then
      for _, e in ipairs(v.values) do
        validate_value(e, path, prefix, stack, true)
      end
    end
  elseif type(v) == "table" then
    validate_table(v, path, prefix, stack, in_value)
  end
end

function validate_table(t, path, prefix, stack, in_value)
  if stack[t] then
    error(full(prefix, path) .. ": table contains itself", 0)
  end
  stack[t] = true
  check_keys(t, path, prefix)
  for _, k in ipairs(sorted_keys(t)) do
    validate_value(t[k], join(path, k), prefix, stack, in_value)
  end
  stack[t] = nil
end

-- Raises "where: config.path: reason" for the first invalid domain in sorted
-- path order, or "config.path: reason" for a malformed table. Returns true.
function M.validate(space, prefix)
  prefix = prefix or "config"
  if type(space) ~= "table" or is_domain(space) then
    error(prefix .. " must be a table of parameters", 0)
  end
  validate_table(space, "", prefix, {}, false)
  return true
end

local function collect(t, path, out, stack)
  if stack[t] then return end
  stack[t] = true
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    local p = join(path, k)
    if is_domain(v) then
      out[#out + 1] = { path = p, domain = v }
    elseif type(v) == "table" then
      collect(v, p, out, stack)
    end
  end
  stack[t] = nil
end

-- An array of { path = "optim.lr", domain = d } in sorted path order. Does
-- not look inside choice or grid_search values.
function M.paths(space)
  local out = {}
  collect(space, "", out, {})
  return out
end

-- The cartesian product of every grid_search, as an array of assignments
-- { [path] = value }. The first path in sorted order varies fastest, as in
-- Ray Tune. With no grid_search: { {} }.
function M.grid(space)
  local grids = {}
  for _, e in ipairs(M.paths(space)) do
    if e.domain.kind == "grid_search" then
      if e.domain.err then
        error(e.domain.where .. ": " .. full("config", e.path) .. ": " .. e.domain.err, 0)
      end
      grids[#grids + 1] = e
    end
  end
  local out = {}
  local idx = {}
  for i = 1, #grids do idx[i] = 1 end
  while true do
    local a = {}
    for i, g in ipairs(grids) do
      a[g.path] = g.domain.values[idx[i]]
    end
    out[#out + 1] = a
    local i = 1
    while i <= #grids do
      idx[i] = idx[i] + 1
      if idx[i] <= #grids[i].domain.values then break end
      idx[i] = 1
      i = i + 1
    end
    if i > #grids then break end
  end
  return out
end

---------------------------------------------------------------------------
-- Resolving a space into a concrete config
---------------------------------------------------------------------------

local UNRESOLVED = setmetatable({}, { __tostring = function() return "unresolved value" end })

local fill

local function need_rng(st, d, path)
  if not st.rng then
    error(d.where .. ": " .. full("config", path) .. ": dsl.resolve needs an rng to sample "
          .. tostring(d), 0)
  end
  return st.rng
end

-- Puts the concrete value for `value` (found at `path`) into parent[key]:
-- tables are copied, domains sampled or taken from the assignment,
-- sample_from deferred to the second phase. `chosen` is true when value
-- came from the assignment or a choice, so it is not looked up again.
function fill(st, parent, key, value, path, chosen)
  if is_domain(value) then
    local given
    if not chosen then
      given = st.assignment[path]
    end
    if given ~= nil then
      return fill(st, parent, key, given, path, true)
    end
    local kind = value.kind
    if value.err then
      error(value.where .. ": " .. full("config", path) .. ": " .. value.err, 0)
    elseif kind == "grid_search" then
      error(value.where .. ": " .. full("config", path) .. ": no grid value assigned", 0)
    elseif kind == "sample_from" then
      st.pending[#st.pending + 1] = { parent = parent, key = key, domain = value, path = path }
      local u = st.unresolved[parent]
      if not u then
        u = {}
        st.unresolved[parent] = u
        setmetatable(parent, st.guard)
      end
      u[key] = true
    elseif kind == "choice" then
      fill(st, parent, key, sample(value, need_rng(st, value, path)), path, true)
    else
      parent[key] = sample(value, need_rng(st, value, path))
    end
  elseif type(value) == "table" then
    local t = {}
    parent[key] = t
    for _, k in ipairs(sorted_keys(value)) do
      fill(st, t, k, value[k], join(path, k))
    end
  else
    parent[key] = value
  end
end

-- Calls the pending sample_from functions in sorted path order. A function
-- that reads a value still pending is retried after the others, as Ray does;
-- when a whole pass makes no progress the functions depend on each other.
local function run_pending(st, root)
  while #st.pending > 0 do
    local list = st.pending
    st.pending = {}
    local deferred = {}
    local progress = false
    for _, p in ipairs(list) do
      local ok, v = pcall(p.domain.fn, root, st.rng)
      if ok then
        st.unresolved[p.parent][p.key] = nil
        fill(st, p.parent, p.key, v, p.path)
        progress = true
      elseif v == UNRESOLVED then
        deferred[#deferred + 1] = p
      else
        error(p.domain.where .. ": " .. full("config", p.path)
              .. ": sample_from function failed: " .. tostring(v), 0)
      end
    end
    if not progress then
      local names = {}
      for i, p in ipairs(deferred) do
        names[i] = full("config", p.path)
      end
      error(deferred[1].domain.where .. ": " .. names[1]
            .. ": sample_from functions depend on each other: " .. concat(names, ", "), 0)
    end
    for _, p in ipairs(st.pending) do
      deferred[#deferred + 1] = p
    end
    st.pending = deferred
  end
  for t in pairs(st.unresolved) do
    setmetatable(t, nil)
  end
end

-- A fresh concrete config for `space`: constants deep-copied, values named by
-- `assignment` (path -> value) taken from it, other domains sampled with
-- `rng` in sorted path order, then sample_from functions called as
-- fn(config, rng) in sorted path order with the config resolved so far.
function M.resolve(space, rng, assignment)
  local st = { rng = rng, assignment = assignment or {}, pending = {}, unresolved = {} }
  st.guard = {
    __index = function(t, k)
      local u = st.unresolved[t]
      if u and u[k] then error(UNRESOLVED, 0) end
    end,
  }
  local root = {}
  for _, k in ipairs(sorted_keys(space)) do
    fill(st, root, k, space[k], join("", k))
  end
  run_pending(st, root)
  return root
end

return M
