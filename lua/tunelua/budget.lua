-- An experiment's budget: how much it may use before the runner ends it. Either a number of
-- results (trial-iterations, over every trial) or seconds of the engine clock (virtual under
-- the simulate executor, wall time otherwise) since the experiment started.
--
--   budget = { results = 500 }      the experiment field
--   budget = { time = 60 }
--   TUNELUA_BUDGET=500 / =60s / =2m / =1.5h   the same from the environment (what
--                                            `tunelua compare --budget` sets in each run)
--
-- Once spent, the runner stops every running trial at its next result (the result is kept),
-- ends the PENDING and PAUSED ones and starts nothing new: a few results past the budget
-- (one per trial then running) may reach the journal, and `tunelua compare` counts only
-- those within it. The trials it ends say why ("the experiment's budget is spent (500
-- results)"), and so do the end of the run and summary.json ("budget_spent").
--
-- `tunelua resume` counts what the earlier runs used: the results by replaying the journal,
-- and a time budget from the journal's wall-clock times (each run from its experiment or
-- resumed line to its last line; time the engine was not running is not counted). Under
-- the simulate executor the virtual clock itself goes on from the journal.
--
-- API
--   budget.parse(text)        { results = n } or { time = s }, or nil, why
--   budget.check(v, what)     the normalised table, or nil, why (v: a table as above)
--   budget.tracker(b, clock)  an object: t:result() counts one result and returns true once
--                             the budget is spent; t.spent; t:used(s) counts s seconds of
--                             earlier runs (a time budget on wall time; true once spent;
--                             without s it only checks the clock)
--   budget.describe(b)        "500 results", "60 s"
local type, tonumber, tostring, floor, format = type, tonumber, tostring, math.floor,
  string.format

local M = {}

local units = { s = 1, m = 60, h = 3600 }

function M.parse(text)
  local s = tostring(text):match("^%s*(.-)%s*$")
  local num, unit = s:match("^([%d.]+)([smh]?)$")
  local n = tonumber(num)
  if not n or n <= 0 then
    return nil, "a budget is a number of results (500) or a time (60s, 2m, 1.5h), got '" ..
      s .. "'"
  end
  if unit == "" then
    if n ~= floor(n) then return nil, "a budget of results must be a whole number, got " .. s end
    return { results = n }
  end
  return { time = n * units[unit] }
end

function M.check(v, what)
  what = what or "budget"
  if type(v) ~= "table" then
    return nil, what .. " must be { results = N } or { time = seconds }"
  end
  local n, t = v.results, v.time
  for k in pairs(v) do
    if k ~= "results" and k ~= "time" then
      return nil, what .. ": unknown field '" .. tostring(k) .. "' (results or time)"
    end
  end
  if (n == nil) == (t == nil) then return nil, what .. " needs one of results or time" end
  if n ~= nil and (type(n) ~= "number" or n < 1 or n ~= floor(n)) then
    return nil, what .. ".results must be a whole number >= 1"
  end
  if t ~= nil and (type(t) ~= "number" or t <= 0) then
    return nil, what .. ".time must be a number of seconds > 0"
  end
  return { results = n, time = t }
end

local Tracker = {}
Tracker.__index = Tracker

function Tracker:result()
  if self.spent then return true end
  self.count = self.count + 1
  local b = self.budget
  if (b.results and self.count >= b.results) or (b.time and self.clock() - self.t0 >= b.time) then
    self.spent = true
  end
  return self.spent
end

function Tracker:used(secs)
  if self.budget.time and not self.spent then
    if secs then self.t0 = self.clock() - secs end
    if self.clock() - self.t0 >= self.budget.time then self.spent = true end
  end
  return self.spent
end

function M.describe(b)
  if b.results then return format("%d results", b.results) end
  return format("%g s", b.time)
end

function M.tracker(b, clock)
  return setmetatable({ budget = b, clock = clock, t0 = clock(), count = 0, spent = false },
    Tracker)
end

return M
