-- Exhaustive grid search: the cartesian product of every grid_search and
-- choice, with each numeric domain discretised into `points` values (evenly
-- spaced over the range, log-spaced for log domains, both ends included;
-- randn/qrandn at mean + sd * z for z evenly spaced in [-1, 1]). Quantized
-- and integer domains are snapped and deduplicated. sample_from runs after,
-- on the grid point. The whole grid is repeated num_samples times.

local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"

local type, pairs, ipairs, error, tostring, setmetatable =
  type, pairs, ipairs, error, tostring, setmetatable
local floor, min, log, expf = math.floor, math.min, math.log, math.exp

local OPTIONS = { points = true, max_trials = true }

local Grid = {}
Grid.__index = Grid

local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("grid: options must be a table, got " .. type(opts), 3)
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      error("grid: unknown option '" .. tostring(k) .. "' (accepted: points, max_trials)", 3)
    end
  end
  for _, k in ipairs({ "points", "max_trials" }) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v < 1 or floor(v) ~= v) then
      error("grid: " .. k .. " must be a positive integer, got " .. tostring(v), 3)
    end
  end
  return opts
end

-- n raw numbers evenly spaced over [a, b] (the midpoint when n is 1).
local function linspace(a, b, n)
  if n == 1 or a == b then return { (a + b) / 2 } end
  local out = {}
  for i = 0, n - 1 do
    out[i + 1] = (i == n - 1) and b or a + (b - a) * i / (n - 1)
  end
  return out
end

-- The grid values of one numeric domain, snapped to valid values, without
-- duplicates, in increasing order.
local function discretize(d, n)
  local raw
  local kind = d.kind
  if kind == "randn" or kind == "qrandn" then
    raw = {}
    for i, z in ipairs(linspace(-1, 1, n)) do
      raw[i] = d.mean + d.sd * z
    end
  else
    local lo, hi = d.low, d.high
    if d.klo then
      lo, hi = d.klo * d.q, d.khi * d.q
    elseif d.is_int then
      hi = hi - 1
    end
    if d.is_log then
      -- exact ends: exp(log(x)) need not give x back
      raw = linspace(log(lo), log(hi), n)
      for i, x in ipairs(raw) do
        raw[i] = expf(x)
      end
      if #raw > 1 then
        raw[1], raw[#raw] = lo, hi
      end
    else
      raw = linspace(lo, hi, n)
    end
  end
  local out, seen = {}, {}
  for _, x in ipairs(raw) do
    local v = dsl.snap(d, x)
    if not seen[v] then
      seen[v] = true
      out[#out + 1] = v
    end
  end
  return out
end

-- Lists the axes of the grid in sorted path order; sample_from is left to
-- dsl.resolve.
function Grid:setup(exp)
  self.exp = exp
  self.space = exp.space or {}
  dsl.validate(self.space)
  self.rng = exp.rng or rng.new(exp.seed or 0):derive("searcher")
  local axes, size = {}, 1
  for _, e in ipairs(dsl.paths(self.space)) do
    local d = e.domain
    local values
    if d.values then
      values = d.values
    elseif d.kind ~= "sample_from" then
      values = discretize(d, self.points)
    end
    if values then
      axes[#axes + 1] = { path = e.path, values = values }
      size = size * #values
    end
  end
  self.axes, self.size = axes, size
  self.total = (exp.num_samples or 1) * size
  if self.max_trials then
    self.total = min(self.total, self.max_trials)
  end
  self.count = 0
end

-- Grid point i (0-based) as an assignment; the first axis varies fastest,
-- like dsl.grid and Ray Tune.
function Grid:point(i)
  local a = {}
  for _, axis in ipairs(self.axes) do
    local n = #axis.values
    a[axis.path] = axis.values[i % n + 1]
    i = floor(i / n)
  end
  return a
end

function Grid:suggest(_trial_id)
  local i = self.count
  if i >= self.total then
    return nil
  end
  self.count = i + 1
  return dsl.resolve(self.space, self.rng:derive(i), self:point(i % self.size))
end

-- Grid search ignores results.
local function nothing() end
Grid.on_result = nothing
Grid.on_trial_complete = nothing

return function(opts)
  opts = check_opts(opts)
  return setmetatable({ name = "grid", points = opts.points or 3, max_trials = opts.max_trials,
                        count = 0 }, Grid)
end
