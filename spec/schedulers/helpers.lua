-- Shared by the scheduler specs: a fake experiment context with trial views, a sequential
-- driver (one trial at a time, as an engine with one slot), and e2e experiment sources.
local rng = require "tunelua.rng"
local trials = require "tunelua.trials"

local S = {}

-- A context and n PENDING views with configs cfgs[i]; calls setup and on_trial_add.
function S.harness(sched, cfgs, metric, mode)
  local exp = { metric = metric, mode = mode, trials = {}, num_samples = #cfgs, space = {},
    rng = rng.new(1):derive("scheduler"), now = function() return 0 end }
  sched:setup(exp)
  for i, c in ipairs(cfgs) do
    local v = { id = string.format("%05d", i - 1), index = i, status = "PENDING", iteration = 0,
      config = c }
    exp.trials[i] = v
    if sched.on_trial_add then sched:on_trial_add(v) end
  end
  return exp
end

-- Runs trials as an engine with one slot (statuses set as the engine sets them, through
-- trials.set_status): choose, run until a decision other than "continue" (or max_it).
-- value(trial, it) gives the metric; time is the iteration.
-- Returns the events, e.g. { "0+0", "0p1", "1+0", "1s3" } (+ start at iteration, p pause,
-- s stop, e the end at max_it).
function S.drive(sched, exp, metric, value, max_it)
  local ev = {}
  while true do
    local t = sched:choose_trial_to_run()
    if not t then break end
    local n = tonumber(t.id)
    ev[#ev + 1] = n .. "+" .. t.iteration
    trials.set_status(exp.trials, t, "RUNNING")
    while true do
      local it = t.iteration + 1
      t.iteration = it
      local r = { training_iteration = it, time_total_s = it, [metric] = value(t, it) }
      t.last_result = r
      local d = sched:on_result(t, r)
      if d == "stop" or it >= max_it then
        trials.set_status(exp.trials, t, "TERMINATED")
        ev[#ev + 1] = n .. (d == "stop" and "s" or "e") .. it
        if sched.on_trial_complete then sched:on_trial_complete(t, r) end
        break
      elseif d == "pause" then
        trials.set_status(exp.trials, t, "PAUSED")
        ev[#ev + 1] = n .. "p" .. it
        break
      end
    end
  end
  return ev
end

-- The scheduler's decisions in a journal, as { [trial] = { "stop@3", ... } }, and the number
-- of results.
function S.decisions(journal)
  local by, results = {}, 0
  for _, e in ipairs(journal) do
    if e.ev == "decision" and e.by == "scheduler" then
      by[e.trial] = by[e.trial] or {}
      table.insert(by[e.trial], e.action .. "@" .. e.iteration)
    elseif e.ev == "result" then
      results = results + 1
    end
  end
  return by, results
end

-- An experiment source: x from a grid (in this order), loss = x + 1/it (or acc = -loss),
-- simulate executor, one or more slots.
function S.grid_src(xs, sched, o)
  o = o or {}
  local vals = {}
  for i, x in ipairs(xs) do vals[i] = string.format("%.17g", x) end
  local metric, expr = "loss", "config.x + 1 / it"
  if o.mode == "max" then metric, expr = "acc", "-(config.x + 1 / it)" end
  return table.concat({
    'local tune = require "tunelua"',
    "return tune.experiment {",
    "  trainer = { simulate = function(config, it) return { " .. metric .. " = " .. expr ..
      " } end, iteration_time = 1 },",
    "  config = { x = tune.grid_search { " .. table.concat(vals, ", ") .. " } },",
    '  metric = "' .. metric .. '", mode = "' .. (o.mode or "min") .. '",',
    "  max_concurrent = " .. (o.slots or 1) .. ",",
    o.extra or "",
    "  scheduler = " .. sched .. ",",
    "}",
    "",
  }, "\n")
end

return S
