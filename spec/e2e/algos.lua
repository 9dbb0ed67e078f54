-- Experiment sources for the specs that run every scheduler and searcher on the simulate
-- executor (swap_spec, reproducible_spec): a noisy learning curve with a learning rate that
-- PBT can tune (the state carries over an exploit), trials of different speeds, 4 at a time.
local A = {}

local mutations = "{ lr = tune.loguniform(1e-3, 1) }"

-- name -> { scheduler = LUA, searcher = LUA or nil }
A.combos = {
  { "fifo", "tune.schedulers.fifo {}" },
  { "asha", "tune.schedulers.asha { max_t = 27, grace_period = 1, reduction_factor = 3 }" },
  { "asha-promotion", "tune.schedulers.asha { max_t = 27, grace_period = 1, " ..
    "reduction_factor = 3, promotion = true }" },
  { "hyperband", "tune.schedulers.hyperband { max_t = 27, reduction_factor = 3 }" },
  { "median", "tune.schedulers.median { time_attr = 'training_iteration', grace_period = 3, " ..
    "min_samples_required = 2 }" },
  { "pbt", "tune.schedulers.pbt { time_attr = 'training_iteration', perturbation_interval = 4, " ..
    "hyperparam_mutations = " .. mutations .. " }" },
  { "pb2", "tune.schedulers.pb2 { time_attr = 'training_iteration', " ..
    "perturbation_interval = 4, " ..
    "hyperparam_bounds = { lr = { 1e-3, 1 } } }" },
  { "tpe+asha", "tune.schedulers.asha { max_t = 27, grace_period = 1, reduction_factor = 3 }",
    "tune.searchers.tpe { n_startup_trials = 5 }" },
  { "bohb+hyperband", "tune.schedulers.hyperband { max_t = 27, reduction_factor = 3 }",
    "tune.searchers.bohb { max_t = 27, reduction_factor = 3, min_points_in_model = 3 }" },
  { "grid+median", "tune.schedulers.median { time_attr = 'training_iteration', " ..
    "grace_period = 3, min_samples_required = 2 }",
    "tune.searchers.grid { points = 3, max_trials = 16 }" },
}

-- The experiment source for a scheduler (and searcher) expression.
function A.src(scheduler, searcher, extra)
  return table.concat({
    'local tune = require "tunelua"',
    "return tune.experiment {",
    "  trainer = {",
    "    simulate = function(c, it, st, rng)",
    "      st.s = (st.s or 0) + c.lr",
    "      return { loss = (c.x - 0.3) ^ 2 + 1 / (1 + st.s) + 0.01 * rng:normal() }",
    "    end,",
    "    iteration_time = function(c) return 1 + c.x end,",
    "  },",
    "  config = { x = tune.uniform(0, 1), lr = tune.loguniform(1e-3, 1) },",
    "  num_samples = 16, metric = 'loss', mode = 'min', max_concurrent = 4,",
    "  stop = { training_iteration = 27 },",
    "  checkpoint = { every = 4 },",
    "  scheduler = " .. scheduler .. ",",
    searcher and ("  searcher = " .. searcher .. ",") or "",
    extra or "",
    "}",
    "",
  }, "\n")
end

-- The lines of DIR/journal.jsonl without what differs between two runs of the same
-- experiment: the wall-clock fields ("t" on every line, "timestamp" in results). skip[ev]
-- drops those events.
function A.journal(dir, skip)
  local out = {}
  for line in io.lines(dir .. "/journal.jsonl") do
    local ev = line:match('^{"ev":"([%w_]+)"')
    if not (skip and skip[ev]) then
      line = line:gsub('"t":[-%d.eE+]+,?', ""):gsub('"timestamp":[-%d.eE+]+,?', "")
      out[#out + 1] = line
    end
  end
  return out
end

-- The first line where two normalized journals differ, for assertion messages.
function A.first_difference(a, b)
  for i = 1, math.max(#a, #b) do
    if a[i] ~= b[i] then
      return string.format("line %d:\n  %s\n  %s", i, tostring(a[i]), tostring(b[i]))
    end
  end
  return nil
end

return A
