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
--   trials.reset(list)                      forgets what first() knew of list: for code that
--                                           empties or rebuilds it (a scheduler swap's replay)
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
-- Nothing here allocates: the lists are the engine's own.
local dsl = require "tunelua.dsl"

local type, setmetatable = type, setmetatable

local M = {}

-- list -> { [status] = index }: no view of list before that index has that status. A view
-- that enters a status lowers it; first() raises it past the views it finds without it.
-- Views appended later are at or after any hint, so adding one needs nothing.
local hints = setmetatable({}, { __mode = "k" })

function M.set_status(list, view, status)
  view.status = status
  local h = hints[list]
  if not h then
    h = {}
    hints[list] = h
  end
  local low = h[status]
  if low and view.index < low then h[status] = view.index end
end

function M.reset(list)
  if hints[list] then hints[list] = {} end
end

function M.first(list, status, ok, ...)
  local h = hints[list]
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
