-- Trial order for schedulers: which trial of exp.trials to run next, whether the searcher
-- has given every trial it will, and whether a final result is one on_result never saw.
--
-- API
--   trials.first(list, status [, ok, ...])  the first view in list with that status for which
--                                           ok(view, ...) is true (any, without ok); or nil.
--                                           On a list whose views change status only through
--                                           trials.set_status (the engine's exp.trials), it
--                                           starts where no earlier view can have that status,
--                                           so a call costs the views it has not passed before
--                                           (amortized O(1)) instead of the whole list
--   trials.set_status(list, view, status)   sets view.status (view = list[view.index]); the
--                                           engine's runner, not schedulers, calls it
--   trials.reset(list)                      forgets what first(), count() and members() knew
--                                           of list: for code that empties or rebuilds it (a
--                                           scheduler swap's replay)
--   trials.count(list, status)              how many views of list have that status: O(1) on a
--                                           kept list (one set_status has seen), a scan on others
--   trials.members(list, status)            the views with status PENDING, RUNNING or PAUSED as
--                                           a set { [view] = true }, read-only; on a kept list the
--                                           set set_status keeps (O(1)), else a fresh one from a
--                                           scan. pairs() order is not trial order: a caller that
--                                           picks among them breaks ties by view.index
--   trials.fifo(list)                       Ray's FIFO: the first PENDING view, else the first
--                                           PAUSED one; or nil
--   trials.exhausted(sched)                 whether the searcher is done: sched.searcher_done
--                                           (set it in on_searcher_exhausted: other searchers,
--                                           max_trials), or #exp.trials has reached num_samples
--                                           times the grid points of exp.space (what the random
--                                           searcher gives); sched.exp is the experiment, and
--                                           the count is cached in sched.total
--   trials.on_searcher_exhausted(sched)     sets sched.searcher_done: a scheduler's callback,
--                                           Sched.on_searcher_exhausted = trials.on_searcher_...
--   trials.unseen(seen, view, result)       true when result is a final result that on_result
--                                           did not get: seen[view] holds the
--                                           training_iteration on_result last got
--   trials.point(result, time_attr, metric) result[time_attr], result[metric] when both are
--                                           numbers, else nil
--
-- Nothing here allocates on a kept list: the lists are the engine's own.
local dsl = require "tunelua.dsl"

local type, setmetatable, ipairs, error, tostring = type, setmetatable, ipairs, error, tostring

local M = {}

-- A kept list's state: hint[status] = an index before which no view has that status (a view
-- that enters a status lowers it; first() raises it past the views it finds without it);
-- count[status] and set[status] (the live statuses only, so that 100,000 finished trials cost
-- no set entry) for the views 1..seen. Views appended later are at or after any hint and
-- are counted, at their status then, by the next count() or members(): adding one needs
-- nothing. A list is kept from its first set_status.
local kept = setmetatable({}, { __mode = "k" })
local LIVE = { PENDING = true, RUNNING = true, PAUSED = true }

local function new_state()
  return { hint = {}, seen = 0, count = {}, set = { PENDING = {}, RUNNING = {}, PAUSED = {} } }
end

local function move(s, view, from, to)
  if from then
    s.count[from] = (s.count[from] or 0) - 1
    if LIVE[from] then s.set[from][view] = nil end
  end
  s.count[to] = (s.count[to] or 0) + 1
  if LIVE[to] then s.set[to][view] = true end
end

-- Counts the views appended since the last call.
local function caught_up(s, list)
  for i = s.seen + 1, #list do
    local v = list[i]
    move(s, v, nil, v.status)
  end
  s.seen = #list
  return s
end

function M.set_status(list, view, status)
  local s = kept[list]
  if not s then
    s = new_state()
    kept[list] = s
  end
  local old = view.status
  view.status = status
  local low = s.hint[status]
  if low and view.index < low then s.hint[status] = view.index end
  if view.index <= s.seen and old ~= status then move(s, view, old, status) end
end

function M.reset(list)
  if kept[list] then kept[list] = new_state() end
end

function M.count(list, status)
  local s = kept[list]
  if s then return caught_up(s, list).count[status] or 0 end
  local n = 0
  for _, v in ipairs(list) do
    if v.status == status then n = n + 1 end
  end
  return n
end

function M.members(list, status)
  if not LIVE[status] then error("trials.members: not a live status: " .. tostring(status), 2) end
  local s = kept[list]
  if s then return caught_up(s, list).set[status] end
  local set = {}
  for _, v in ipairs(list) do
    if v.status == status then set[v] = true end
  end
  return set
end

function M.first(list, status, ok, ...)
  local s = kept[list]
  local h = s and s.hint
  local n, low = #list, nil
  for i = h and h[status] or 1, n do
    local v = list[i]
    if v.status == status then
      low = low or i
      if not ok or ok(v, ...) then
        if h then h[status] = low end
        return v
      end
    end
  end
  if h then h[status] = low or n + 1 end
  return nil
end

-- fits (optional, exp.fits): only trials that fit the free resources now are chosen, so a
-- big trial waiting for room does not hold back smaller ones behind it.
function M.fifo(list, fits)
  return M.first(list, "PENDING", fits) or M.first(list, "PAUSED", fits)
end

function M.exhausted(sched)
  local exp = sched.exp
  if sched.searcher_done then return true end
  if not sched.total then sched.total = (exp.num_samples or 1) * #dsl.grid(exp.space or {}) end
  return #exp.trials >= sched.total
end

function M.on_searcher_exhausted(sched)
  sched.searcher_done = true
end

function M.unseen(seen, view, result)
  return result ~= nil and seen[view] ~= result.training_iteration
end

function M.point(result, time_attr, metric)
  local time, value = result[time_attr], result[metric]
  if type(time) == "number" and type(value) == "number" then return time, value end
  return nil
end

return M
