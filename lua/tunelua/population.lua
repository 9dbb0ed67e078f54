-- Queries over a population of trial views (exp.trials) shared by the population-based
-- schedulers (schedulers/pbt.lua and pb2.lua): which trials are live or waiting, Ray's
-- quantiles of the ranked population, and which waiting trial to run next. On the engine's
-- list (kept by tunelua.trials) each costs the live trials, not every trial of the run.
local trials = require "tunelua.trials"

local ipairs, pairs, sort = ipairs, pairs, table.sort
local count, members = trials.count, trials.members
local UNFINISHED, WAITING = { "PENDING", "RUNNING", "PAUSED" }, { "PENDING", "PAUSED" }
local floor, ceil = math.floor, math.ceil

local M = {}

-- Whether a trial has ended (it no longer takes part in the ranking).
local function finished(t)
  return t.status == "TERMINATED" or t.status == "ERROR"
end
M.finished = finished

-- Whether a trial waits for a slot (the engine may start or resume it).
local function waiting(t)
  return t.status == "PENDING" or t.status == "PAUSED"
end
M.waiting = waiting

-- Whether a trial of list other than `except` (one of them) waits for a slot.
function M.others_waiting(list, except)
  local n = count(list, "PENDING") + count(list, "PAUSED")
  if waiting(except) then n = n - 1 end
  return n > 0
end

-- Whether ok(t, ...) holds for every unfinished trial of list (PENDING, RUNNING or PAUSED).
function M.all_unfinished(list, ok, ...)
  for _, status in ipairs(UNFINISHED) do
    for t in pairs(members(list, status)) do
      if not ok(t, ...) then return false end
    end
  end
  return true
end

-- Score order, worst first: a NaN is the worst score; ties in the order trials were added.
local function worse(a, b, sa, sb)
  local na, nb = sa ~= sa, sb ~= sb
  if na ~= nb then return na end
  if not na and sa ~= sb then return sa < sb end
  return a.index < b.index
end

-- Ray's _quantiles: the unfinished trials with a score (score(t) ~= nil; higher is better),
-- sorted worst first (NaN first), ties in the order trials were added (t.index); the bottom
-- and the top ceil(n · fraction), at most n/2 each; both empty with fewer than two trials.
-- Returns lower, upper and the ranked list.
function M.quantiles(list, fraction, score)
  local ranked = {}
  for _, status in ipairs(UNFINISHED) do
    for t in pairs(members(list, status)) do
      if score(t) then ranked[#ranked + 1] = t end
    end
  end
  sort(ranked, function(a, b) return worse(a, b, score(a), score(b)) end)
  local n, lower, upper = #ranked, {}, {}
  if n <= 1 then return lower, upper, ranked end
  local k = ceil(n * fraction)
  if k > n / 2 then k = floor(n / 2) end
  for i = 1, k do
    lower[i] = ranked[i]
    upper[i] = ranked[n - k + i]
  end
  return lower, upper, ranked
end

-- The ranked trials reordered top quantile first, then the middle, then the bottom quantile
-- (the order in which Ray's synchronous PBT visits them at a barrier).
function M.top_down(lower, upper, ranked)
  local order, side = {}, {}
  for _, t in ipairs(upper) do
    order[#order + 1], side[t] = t, true
  end
  for _, t in ipairs(lower) do side[t] = true end
  for _, t in ipairs(ranked) do
    if not side[t] then order[#order + 1] = t end
  end
  for _, t in ipairs(lower) do order[#order + 1] = t end
  return order
end

-- The waiting trial with the smallest key(t) -> (number, tie-break number), first in trial
-- order among equals; key returns nil for a trial that must not run now. nil when none.
function M.first_waiting(list, key)
  local best, best_a, best_b
  for _, status in ipairs(WAITING) do
    for t in pairs(members(list, status)) do
      local a, b = key(t)
      if a and (not best or a < best_a or (a == best_a and (b < best_b
          or (b == best_b and t.index < best.index)))) then
        best, best_a, best_b = t, a, b
      end
    end
  end
  return best
end

return M
