-- Rungs for successive halving (ASHA, HyperBand, BOHB): the milestones of a bracket, the
-- values trials reached at each, and the cutoff of the top 1/eta.
--
-- API
--   rungs.milestones(min_t, max_t, eta [, bracket = 0])
--       ascending list of min_t * eta^(k + bracket), k = 0, 1, ..., that are <= max_t. This is
--       Ray Tune's _Bracket (count = int(log(max_t / min_t) / log(eta) - bracket + 1)), counted
--       with a 1e-9 tolerance so that floating point does not drop the max_t rung (Ray's
--       formula gives 5 rungs for 1..243 with eta 3, where 243 = 3^5 is a sixth).
--   rungs.sign(mode)       1 for "max", -1 for "min" (an error otherwise): score = sign * value,
--                          higher is better
--   rungs.time_getter(attr) function(result) -> result[attr] when it is a number, else nil
--   rungs.new(milestones, eta, mode)  a Ladder (below); eta > 1
--   rungs.brackets(min_t, max_t, eta, count, mode)
--       ASHA's brackets: a list of count Ladders, bracket s = 0..count-1 with the milestones
--       rungs.milestones(min_t, max_t, eta, s)
--   rungs.pick(ladders, rng, label)  Ray's bracket draw: a softmax over the ladders' sizes
--       (number of rungs), from rng:derive(label), so that it does not depend on event order;
--       the first ladder, without a draw, when there is one
--
-- Ladder (one bracket's rungs; rung k has milestone ladder.t[k], k = 1..#ladder.t)
--   L.t, L.eta, L.sign, L.q     the milestones, eta, the sign, and the cutoff quantile
--                               ((1 - 1/eta) * 100 / 100, computed the way numpy does)
--   L:rung_at(time)             the highest k with t[k] <= time, or 0
--   L:record(k, key, value)     remembers value (metric units) for key (a trial view or id) at
--                               rung k; a repeated key keeps its first value; nil is ignored,
--                               and so is k = 0 (below the first milestone)
--   L:enter(k, key, value)      Ray's stopping rule: records value and returns true when it is
--                               strictly worse than the cutoff of the values recorded before
--   L:get(k, key)               the recorded value, or nil
--   L:count(k)                  how many keys rung k holds
--   L:cutoff(k)                 Ray's cutoff: the L.q quantile (linear interpolation, NaNs left
--                               out) of the recorded scores, in metric units; nil when empty.
--                               O(1): each rung keeps its scores sorted as they are recorded
--                               (a binary search and a shift per record), so a rung of 10,000
--                               trials costs no sort per result
--   L:worse(value, cutoff)      true when value is strictly worse than cutoff for the mode
--   L:top(k [, n])              the keys of the best n (default floor(count / eta)) values at
--                               rung k, best first, ties in record order; a fresh list
--   L:is_top(k, key)            whether key is among L:top(k)
--   L:promote(k, key)           marks key as promoted from rung k (ASHA's Algorithm 2)
--   L:candidate(k, n, ok, ...)  the first key of L:top(k, n) not promoted from rung k for which
--                               ok(key, k, ...) is true, or nil (without making the list)
--
-- The ladder keeps numbers only: record copies the value, never the result table.
local stats = require "tunelua.stats"

local floor, log, exp = math.floor, math.log, math.exp
local insert, remove = table.insert, table.remove
local type, error, tostring, setmetatable, ipairs = type, error, tostring, setmetatable, ipairs

local M = {}

function M.milestones(min_t, max_t, eta, bracket)
  bracket = bracket or 0
  local n = log(max_t / min_t) / log(eta) - bracket + 1
  local out = {}
  if n > 0 then
    n = floor(n + 1e-9)
    for k = 0, n - 1 do out[k + 1] = min_t * eta ^ (k + bracket) end
  end
  return out
end

function M.sign(mode)
  if mode == "max" then return 1 end
  if mode == "min" then return -1 end
  error("rungs: mode must be \"min\" or \"max\", got " .. tostring(mode), 2)
end

function M.time_getter(attr)
  return function(result)
    local v = result[attr]
    if type(v) == "number" then return v end
    return nil
  end
end

local Ladder = {}
Ladder.__index = Ladder

function M.new(milestones, eta, mode)
  if type(eta) ~= "number" or not (eta > 1) then -- luacheck: ignore 581
    error("rungs: eta must be a number > 1, got " .. tostring(eta), 2)
  end
  local L = setmetatable({ t = milestones, eta = eta, sign = M.sign(mode),
    q = ((1 - 1 / eta) * 100) / 100 }, Ladder)
  for k = 1, #milestones do
    -- scores[i] is the i-th recorded score (sign * value), keys[i] its key, at[key] = i;
    -- sorted holds the scores that are not NaN in ascending order, and order[j] is the i of
    -- sorted[j] (equal scores: the later record first, so that read from the end, the best
    -- come first and ties in record order); open (made on the first promote or candidate:
    -- ASHA's stopping rule never needs it) holds the i of order that are not promoted, in the
    -- same order, so that the next promotion skips none of the promoted top
    L[k] = { scores = {}, keys = {}, at = {}, promoted = {}, sorted = {}, order = {} }
  end
  return L
end

function Ladder:rung_at(time)
  local t = self.t
  for k = #t, 1, -1 do
    if time >= t[k] then return k end
  end
  return 0
end

-- Whether record i (score s) comes before record j in a rung's order: lower score, or the
-- same score recorded later.
local function before(r, s, i, j)
  local t = r.scores[j]
  return s < t or (s == t and i > j)
end

-- Where record i (score s) belongs in r.open: the first place whose record it comes before.
local function open_at(r, s, i)
  local open = r.open
  local lo, hi = 1, #open + 1
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if before(r, s, i, open[mid]) then hi = mid else lo = mid + 1 end
  end
  return lo
end

-- r.open, made from r.order on first use.
local function open_of(r)
  local open = r.open
  if open then return open end
  open = {}
  for _, i in ipairs(r.order) do
    if not r.promoted[r.keys[i]] then open[#open + 1] = i end
  end
  r.open = open
  return open
end

function Ladder:record(k, key, value)
  local r = k >= 1 and self[k]
  if value == nil or not r or r.at[key] then return end
  local i, s = #r.scores + 1, self.sign * value
  r.scores[i], r.keys[i], r.at[key] = s, key, i
  if s ~= s then return end
  local sorted = r.sorted
  local p = stats.search(sorted, #sorted, s) -- before the equal ones: the later record first
  insert(sorted, p, s)
  insert(r.order, p, i)
  if r.open and not r.promoted[key] then insert(r.open, open_at(r, s, i), i) end
end

function Ladder:enter(k, key, value)
  local cutoff = self:cutoff(k)
  self:record(k, key, value)
  return cutoff ~= nil and self:worse(value, cutoff)
end

function Ladder:get(k, key)
  local r = self[k]
  local i = r.at[key]
  return i and self.sign * r.scores[i]
end

function Ladder:count(k)
  return #self[k].scores
end

function Ladder:cutoff(k)
  local sorted = self[k].sorted
  local c = stats.sorted_quantile(sorted, #sorted, self.q)
  return c and self.sign * c
end

function Ladder:worse(value, cutoff)
  return self.sign * value < self.sign * cutoff
end

-- The j-th best key of rung k (j = 1 the best), NaNs never ranking; and how many rank.
local function nth_best(r, j)
  local order = r.order
  return r.keys[order[#order + 1 - j]]
end

local function ranked(self, k, n)
  local r = self[k]
  local m = #r.order
  n = n or floor(#r.scores / self.eta)
  return r, n < m and n or m
end

function Ladder:top(k, n)
  local r, m = ranked(self, k, n)
  local out = {}
  for j = 1, m do out[j] = nth_best(r, j) end
  return out
end

function Ladder:is_top(k, key)
  local r, m = ranked(self, k)
  for j = 1, m do
    if nth_best(r, j) == key then return true end
  end
  return false
end

function Ladder:promote(k, key)
  local r = self[k]
  if r.promoted[key] then return end
  r.promoted[key] = true
  local i = r.at[key]
  local s = i and r.scores[i]
  if r.open and s and s == s then remove(r.open, open_at(r, s, i) - 1) end -- a short shift
end

-- Walks the open records best first and stops at the first one below the n-th best of all.
function Ladder:candidate(k, n, ok, ...)
  local r, m = ranked(self, k, n)
  if m == 0 then return nil end
  local last = #r.order + 1 - m -- the place of the m-th best
  local open, scores, last_i = open_of(r), r.scores, r.order[last]
  for j = #open, 1, -1 do
    local i = open[j]
    if before(r, scores[i], i, last_i) then return nil end
    local key = r.keys[i]
    if ok(key, k, ...) then return key end
  end
  return nil
end

function M.brackets(min_t, max_t, eta, count, mode)
  local out = {}
  for s = 0, count - 1 do
    out[s + 1] = M.new(M.milestones(min_t, max_t, eta, s), eta, mode)
  end
  return out
end

-- Ray weighs bracket i by exp(size_i - the largest size), sizes being numbers of rungs.
function M.pick(ladders, rng, label)
  if #ladders == 1 then return ladders[1] end
  local most, sum = 0, 0
  for _, L in ipairs(ladders) do
    if #L.t > most then most = #L.t end
  end
  for _, L in ipairs(ladders) do sum = sum + exp(#L.t - most) end
  local u, L = rng:derive(label):random() * sum, nil
  for i = 1, #ladders do
    L = ladders[i]
    u = u - exp(#L.t - most)
    if u < 0 then break end
  end
  return L
end

return M
