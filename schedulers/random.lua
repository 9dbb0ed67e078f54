-- Random search (Ray Tune's BasicVariantGenerator): num_samples passes over
-- the grid of grid_search values; every other domain is sampled afresh for
-- each trial. Trial i (0-based) is resolved with exp.rng:derive(i), so its
-- config depends only on the seed and i, never on call timing.

local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"

local type, pairs, error, tostring, setmetatable = type, pairs, error, tostring, setmetatable
local floor, min = math.floor, math.min

local OPTIONS = { max_trials = true, points_to_evaluate = true }

local Random = {}
Random.__index = Random

-- Options are checked here with level 2, so a typo is reported at the line
-- of the experiment file that built the searcher.
local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("random: options must be a table, got " .. type(opts), 3)
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      error("random: unknown option '" .. tostring(k)
            .. "' (accepted: max_trials, points_to_evaluate)", 3)
    end
  end
  local m = opts.max_trials
  if m ~= nil and (type(m) ~= "number" or m < 1 or floor(m) ~= m) then
    error("random: max_trials must be a positive integer, got " .. tostring(m), 3)
  end
  local p = opts.points_to_evaluate
  if p ~= nil and type(p) ~= "table" then
    error("random: points_to_evaluate must be a list of configs, got " .. type(p), 3)
  end
  return opts
end

-- Validates the space once and counts the trials: num_samples x grid size,
-- capped by max_trials.
function Random:setup(exp)
  self.exp = exp
  self.space = exp.space or {}
  dsl.validate(self.space)
  self.grid = dsl.grid(self.space)
  self.rng = exp.rng or rng.new(exp.seed or 0):derive("searcher")
  self.total = (exp.num_samples or 1) * #self.grid
  if self.max_trials then
    self.total = min(self.total, self.max_trials)
  end
  self.count = 0
  -- points_to_evaluate: the first trials, each merged with its grid point; the rest sampled
  self.points = require("tunelua.searchers").points(self.space, self.points_opt, "random")
end

-- The next config, or nil once every sample of every grid point was given.
-- Samples are the outer loop and grid points the inner one, as in Ray Tune.
function Random:suggest(_trial_id)
  local i = self.count
  if i >= self.total then
    return nil
  end
  self.count = i + 1
  local assignment = self.grid[i % #self.grid + 1]
  local point = self.points[i + 1]
  if point then
    local merged = {}
    for k, v in pairs(assignment) do merged[k] = v end
    for k, v in pairs(point) do merged[k] = v end
    assignment = merged
  end
  return dsl.resolve(self.space, self.rng:derive(i), assignment)
end

-- Random search ignores results.
local function nothing() end
Random.on_result = nothing
Random.on_trial_complete = nothing

return function(opts)
  opts = check_opts(opts)
  return setmetatable({ name = "random", max_trials = opts.max_trials, count = 0,
                       points_opt = opts.points_to_evaluate }, Random)
end
