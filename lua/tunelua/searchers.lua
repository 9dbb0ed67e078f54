-- What model-based searchers share, and the wrappers that work around any searcher.
--
--   M.model(space, warn)        the parameters a model can learn: numeric domains mapped to an
--                               internal range, choices as categories, including domains inside
--                               choice values (conditional parameters); sample_from is named in
--                               one warning and left to dsl.resolve (sampled from the prior)
--   M.extract(params, config)   a trial's config as a vector of internal values (nil: absent)
--   M.assign(params, vector)    the dsl.resolve assignment for a vector
--   M.points(space, points, who) points_to_evaluate as assignments (nested or path-keyed)
--   M.limiter { searcher, max_concurrent, batch }   Ray's ConcurrencyLimiter
--   M.repeater { searcher, ["repeat"] = n, set_index } Ray's Repeater: n trials per config,
--                               the model sees the mean
--
-- Wrappers must survive resume: the runner replays suggest for every journaled trial before
-- any result, and ignores what suggest returns. A limiter that answered "wait" during replay
-- catches its inner searcher up from exp.trials (sync below).

local dsl = require "tunelua.dsl"

local type, pairs, ipairs, error, tostring, setmetatable, getmetatable, select, unpack =
  type, pairs, ipairs, error, tostring, setmetatable, getmetatable, select, unpack
local log, mexp, floor, min, max, ceil, huge = math.log, math.exp, math.floor, math.min, math.max,
  math.ceil, math.huge
local format, concat = string.format, table.concat

local M = {}

local is_domain = dsl.is_domain

local NUMERIC = {
  uniform = true, quniform = true, loguniform = true, qloguniform = true, randn = true,
  qrandn = true, randint = true, qrandint = true, lograndint = true, qlograndint = true,
}

-- A numeric parameter's internal range and transforms. Integer and quantized domains widen
-- the range by half a step on both sides so that every value has an equal share (Optuna).
local function numeric(p, d)
  local lo, hi
  local q = d.q or ((d.kind == "randint" or d.kind == "lograndint") and 1) or nil
  if d.kind == "randn" or d.kind == "qrandn" then
    lo, hi = d.mean - 4 * d.sd, d.mean + 4 * d.sd
    p.prior_mu, p.prior_sigma = d.mean, d.sd
  elseif d.klo then
    lo, hi = d.klo * q, d.khi * q
  elseif d.is_int then
    lo, hi = d.low, d.high - 1
  else
    lo, hi = d.low, d.high
  end
  if q then lo, hi = lo - q / 2, hi + q / 2 end
  if d.is_log then
    p.log = true
    lo, hi = log(lo), log(hi)
  end
  if hi <= lo then hi = lo + 1e-12 end
  p.kind, p.low, p.high = "num", lo, hi
  return p
end

local function walk(t, path, keys, cond, out, unmodeled)
  for _, k in ipairs(dsl.sorted_keys(t)) do
    local v = t[k]
    local p = dsl.join(path, k)
    local ks = { unpack(keys) }
    ks[#ks + 1] = k
    if is_domain(v) then
      local kind = v.kind
      if NUMERIC[kind] then
        out[#out + 1] = numeric({ path = p, keys = ks, domain = v, cond = cond }, v)
      elseif kind == "choice" then
        local e = { path = p, keys = ks, domain = v, cond = cond, kind = "cat", n = #v.values }
        out[#out + 1] = e
        for i, val in ipairs(v.values) do
          local c = { parent = e, idx = i }
          if is_domain(val) and NUMERIC[val.kind] then
            local sub = numeric({ path = p, keys = ks, domain = val, cond = c, inline = true }, val)
            out[#out + 1] = sub
          elseif is_domain(val) then
            unmodeled[#unmodeled + 1] = p
          elseif type(val) == "table" then
            walk(val, p, ks, c, out, unmodeled)
          end
        end
      elseif kind == "sample_from" then
        unmodeled[#unmodeled + 1] = p
      end -- grid_search: fixed by the grid point
    elseif type(v) == "table" then
      walk(v, p, ks, cond, out, unmodeled)
    end
  end
end

-- The modelled parameters of a space, parents (choices) before what they condition. The
-- names of the parameters a model cannot learn go to warn(msg) once.
function M.model(space, warn, who)
  local out, unmodeled = {}, {}
  walk(space, "", {}, nil, out, unmodeled)
  for i, p in ipairs(out) do p.index = i end
  if #unmodeled > 0 and warn then
    local names = {}
    for i, p in ipairs(unmodeled) do names[i] = dsl.full_path("config", p) end
    warn(format("%s: %s cannot be modelled (sample_from or a non-numeric domain); sampled " ..
      "from the prior", who or "searcher", concat(names, ", ")))
  end
  return out, unmodeled
end

-- Does the concrete value c come from the choice value v?
local function matches(v, c)
  if is_domain(v) then
    return v.kind == "sample_from" or type(c) == "number" or v.kind == "choice"
  elseif type(v) == "table" then
    if type(c) ~= "table" then return false end
    for k, x in pairs(v) do
      if not matches(x, c[k]) then return false end
    end
    return true
  end
  return v == c
end

local function get(config, keys)
  local v = config
  for i = 1, #keys do
    if type(v) ~= "table" then return nil end
    v = v[keys[i]]
  end
  return v
end

-- The internal vector of a config: vec[p.index] is a number (numeric), a category index, or
-- nil when the parameter is inactive (another branch of its choice) or not found.
function M.extract(params, config)
  local vec = {}
  for _, p in ipairs(params) do
    local c = p.cond
    if c == nil or vec[c.parent.index] == c.idx then
      local v = get(config, p.keys)
      if p.kind == "cat" then
        for i, val in ipairs(p.domain.values) do
          if matches(val, v) then vec[p.index] = i; break end
        end
      elseif type(v) == "number" and v == v then
        local u = v
        if p.log then u = v > 0 and log(v) or p.low end
        vec[p.index] = min(max(u, p.low), p.high)
      end
    end
  end
  return vec
end

-- The value a parameter takes for internal value u.
function M.value(p, u)
  if p.kind == "cat" then return p.domain.values[u] end
  if p.log then u = mexp(u) end
  return dsl.snap(p.domain, u)
end

-- A dsl.resolve assignment fixing every active parameter of vec; active parameters vec
-- lacks are left to resolve (sampled from the prior).
function M.assign(params, vec, into)
  local a = into or {}
  local active = {}
  for _, p in ipairs(params) do
    local c = p.cond
    if c == nil or (active[c.parent.index] and vec[c.parent.index] == c.idx) then
      active[p.index] = true
      local u = vec[p.index]
      if u ~= nil then a[p.path] = M.value(p, u) end
    end
  end
  return a
end

-- points_to_evaluate: each point is a table either nested like the config
-- ({ optim = { lr = 0.1 } }) or keyed by path ({ ["optim.lr"] = 0.1 }); it becomes an
-- assignment for dsl.resolve. A key that names no parameter or constant is an error.
function M.points(space, points, who)
  if points == nil then return {} end
  if type(points) ~= "table" then
    error(who .. ": points_to_evaluate must be a list of configs", 0)
  end
  local known = {}
  for _, e in ipairs(dsl.paths(space)) do known[e.path] = e.domain end
  local out = {}
  for i, pt in ipairs(points) do
    if type(pt) ~= "table" then
      error(format("%s: points_to_evaluate[%d] must be a table, got %s", who, i, type(pt)), 0)
    end
    local a = {}
    local function flat(t, path, sp)
      for k, v in pairs(t) do
        local p = dsl.join(path, k)
        local svalue = type(sp) == "table" and not is_domain(sp) and sp[k] or nil
        if path == "" and known[k] then
          a[k] = v
        elseif known[p] then
          a[p] = v
        elseif type(v) == "table" and type(svalue) == "table" and not is_domain(svalue) then
          flat(v, p, svalue)
        elseif svalue == nil then
          error(format("%s: points_to_evaluate[%d]: %s is not a parameter of the search space",
            who, i, dsl.full_path("config", p)), 0)
        end
      end
    end
    flat(pt, "", space)
    out[i] = a
  end
  return out
end

-- Merges assignment tables (later ones win).
function M.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if t then for k, v in pairs(t) do out[k] = v end end
  end
  return out
end

-- Copies the few fields of a result a searcher keeps (the engine reuses the table).
function M.score(result, metric, mode)
  if type(result) ~= "table" then return nil end
  local v = result[metric]
  if type(v) ~= "number" or v ~= v then return nil end
  return mode == "max" and -v or v
end

function M.warn(msg)
  io.stderr:write("tunelua: warning: ", msg, "\n")
end

---------------------------------------------------------------------------
-- Option checks shared by the searcher files (errors at the experiment's line).
---------------------------------------------------------------------------

function M.check(who, opts, spec, level)
  level = (level or 2) + 1
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", who, type(opts)), level)
  end
  local names = {}
  for k in pairs(spec) do names[#names + 1] = k end
  table.sort(names)
  for k, v in pairs(opts) do
    local rule = spec[k]
    if not rule then
      error(format("%s: unknown option '%s' (accepted: %s)", who, tostring(k),
        concat(names, ", ")), level)
    end
    local msg = rule(v)
    if msg then
      error(format("%s: %s %s, got %s", who, k, msg,
        type(v) == "string" and format("%q", v) or tostring(v)), level)
    end
  end
  return opts
end

local function num(v) return type(v) == "number" and v == v and v > -huge and v < huge end
M.rules = {
  int = function(lo) return function(v)
    if not (num(v) and floor(v) == v and v >= lo) then return "must be an integer >= " .. lo end
  end end,
  number = function(lo, hi, open) return function(v)
    if not num(v) or v < lo or v > hi or (open and (v == lo)) then
      return format("must be a number in %s%s, %s]", open and "(" or "[", tostring(lo),
        tostring(hi))
    end
  end end,
  bool = function(v) if type(v) ~= "boolean" then return "must be a boolean" end end,
  string = function(v) if type(v) ~= "string" or v == "" then return "must be a string" end end,
  mode = function(v) if v ~= "min" and v ~= "max" then return "must be \"min\" or \"max\"" end end,
  table = function(v) if type(v) ~= "table" then return "must be a table" end end,
  fn_or_number = function(v)
    if type(v) ~= "function" and not (num(v) and v > 0 and v <= 1) then
      return "must be a function(n) or a fraction in (0, 1]"
    end
  end,
  searcher = function(v)
    if type(v) ~= "table" or type(v.suggest) ~= "function" then
      return "must be a searcher (made by tune.searchers.<name> { ... })"
    end
  end,
}

---------------------------------------------------------------------------
-- Wrappers
---------------------------------------------------------------------------

local function forward_setup(inner, exp)
  if inner.setup then inner:setup(exp) end
end

-- Ray's ConcurrencyLimiter: at most max_concurrent suggested trials unfinished; with batch,
-- a new batch starts only when the whole previous one has finished.
local Limiter = {}
Limiter.__index = Limiter

function Limiter:setup(exp)
  self.exp = exp
  self.live, self.nlive, self.given, self.synced, self.in_batch = {}, 0, {}, 0, 0
  forward_setup(self.searcher, exp)
end

-- Trials the engine added without our config (a replay, where suggest's answer is ignored):
-- the inner searcher is asked for them now, in order, so its state matches a straight run.
function Limiter:_sync()
  local trials = self.exp and self.exp.trials
  if not trials then return end
  for i = self.synced + 1, #trials do
    local id = trials[i].id
    if not self.given[id] then
      self:_take(id, self.searcher:suggest(id))
    end
  end
  self.synced = #trials
end

function Limiter:_take(id, c)
  if type(c) == "table" then
    self.given[id] = true
    self.live[id] = true
    self.nlive = self.nlive + 1
    self.in_batch = self.in_batch + 1
  end
  return c
end

function Limiter:suggest(id)
  self:_sync()
  if self.given[id] then return "wait" end
  if self.nlive >= self.max_concurrent then return "wait" end
  if self.batch and self.in_batch >= self.max_concurrent then
    if self.nlive > 0 then return "wait" end
    self.in_batch = 0
  end
  return self:_take(id, self.searcher:suggest(id))
end

function Limiter:on_result(id, result)
  self:_sync()
  local s = self.searcher
  if s.on_result then s:on_result(id, result) end
end

function Limiter:on_trial_complete(id, result, err)
  self:_sync()
  if self.live[id] then
    self.live[id] = nil
    self.nlive = self.nlive - 1
  end
  local s = self.searcher
  if s.on_trial_complete then s:on_trial_complete(id, result, err) end
end

function M.limiter(opts, level)
  opts = M.check("limiter", opts, {
    searcher = M.rules.searcher, max_concurrent = M.rules.int(1), batch = M.rules.bool,
  }, level)
  if opts.searcher == nil then error("limiter: searcher is required", level or 2) end
  if opts.max_concurrent == nil then
    error("limiter: max_concurrent is required", level or 2)
  end
  return setmetatable({ name = "limiter(" .. tostring(opts.searcher.name) .. ")",
    searcher = opts.searcher, max_concurrent = opts.max_concurrent, batch = opts.batch == true,
    nlive = 0 }, Limiter)
end

-- Ray's Repeater: every config of the inner searcher runs `repeat` times (with
-- __trial_index__ = 0 .. repeat-1 in the config when set_index); when the group has ended,
-- the inner searcher hears on_trial_complete(first trial's id, { [metric] = mean }).
local Repeater = {}
Repeater.__index = Repeater

function Repeater:setup(exp)
  self.exp = exp
  self.metric = self.metric or exp.metric
  -- a copy with the same metatable, so that exp.replaying (read through it) still answers
  local inner = setmetatable({}, getmetatable(exp))
  for k, v in pairs(exp) do inner[k] = v end
  inner.num_samples = ceil((exp.num_samples or 1) / self.n)
  self.group_of, self.current = {}, nil
  forward_setup(self.searcher, inner)
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

function Repeater:suggest(id)
  local g = self.current
  if g == nil or g.given >= self.n then
    local c = self.searcher:suggest(id)
    if type(c) ~= "table" then return c end
    g = { id = id, config = c, given = 0, ended = 0, sum = 0, count = 0 }
    self.current = g
  end
  local c = copy(g.config)
  if self.set_index then c.__trial_index__ = g.given end
  g.given = g.given + 1
  self.group_of[id] = g
  return c
end

function Repeater.on_result() end

function Repeater:on_trial_complete(id, result, err)
  local g = self.group_of[id]
  if not g then return end
  self.group_of[id] = nil
  g.ended = g.ended + 1
  local v = not err and type(result) == "table" and result[self.metric]
  if type(v) == "number" and v == v then
    g.sum, g.count = g.sum + v, g.count + 1
  end
  if g.ended == self.n or (g.ended == g.given and self.current ~= g) then
    local s = self.searcher
    if s.on_trial_complete then
      if g.count > 0 then
        s:on_trial_complete(g.id, { [self.metric] = g.sum / g.count, repeats = g.count })
      else
        s:on_trial_complete(g.id, nil, true)
      end
    end
  end
end

function M.repeater(opts, level)
  opts = M.check("repeater", opts, {
    searcher = M.rules.searcher, ["repeat"] = M.rules.int(1), set_index = M.rules.bool,
    metric = M.rules.string,
  }, level)
  if opts.searcher == nil then error("repeater: searcher is required", level or 2) end
  return setmetatable({ name = "repeater(" .. tostring(opts.searcher.name) .. ")",
    searcher = opts.searcher, n = opts["repeat"] or 1, set_index = opts.set_index ~= false,
    metric = opts.metric }, Repeater)
end

return M
