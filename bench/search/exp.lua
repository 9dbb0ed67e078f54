-- One run of the search benchmark, chosen by environment variables (bench/search/bench.py):
-- BENCH_FN = branin | hartmann6 | branin_mf, BENCH_METHOD = random | tpe | hyperband | bohb,
-- BENCH_N = trials, BENCH_MAX_T = budget of branin_mf, BENCH_TPE_OPTS = tpe's options.
local tune = require "tunelua"
local F = dofile((os.getenv("BENCH_DIR") or "bench/search") .. "/functions.lua")

local fn = os.getenv("BENCH_FN") or "branin"
local method = os.getenv("BENCH_METHOD") or "tpe"
local n = tonumber(os.getenv("BENCH_N") or "200")
local max_t = tonumber(os.getenv("BENCH_MAX_T") or "27")

local config, simulate, stop
if fn == "branin" then
  config = { x1 = tune.uniform(-5, 10), x2 = tune.uniform(0, 15) }
  simulate = function(c) return { value = F.branin(c.x1, c.x2) } end
  stop = { training_iteration = 1 }
elseif fn == "hartmann6" then
  config = { x = { tune.uniform(0, 1), tune.uniform(0, 1), tune.uniform(0, 1),
    tune.uniform(0, 1), tune.uniform(0, 1), tune.uniform(0, 1) } }
  simulate = function(c) return { value = F.hartmann6(c.x) } end
  stop = { training_iteration = 1 }
else
  config = { x1 = tune.uniform(-5, 10), x2 = tune.uniform(0, 15) }
  simulate = function(c, it) return { value = F.branin_mf(c.x1, c.x2, it / max_t) } end
  stop = { training_iteration = max_t }
end

local scheduler, searcher
if method == "random" then
  searcher = tune.searchers.random {}
elseif method == "tpe" then
  -- BENCH_TPE_OPTS: a Lua table constructor of tpe options, e.g. "{ multivariate = true }"
  local extra = os.getenv("BENCH_TPE_OPTS")
  searcher = tune.searchers.tpe(extra and assert(loadstring("return " .. extra))() or {})
elseif method == "hyperband" then
  scheduler = tune.schedulers.hyperband { max_t = max_t, reduction_factor = 3 }
  searcher = tune.searchers.random {}
elseif method == "bohb" then
  scheduler = tune.schedulers.hyperband { max_t = max_t, reduction_factor = 3 }
  searcher = tune.searchers.bohb { max_t = max_t, reduction_factor = 3 }
end

return tune.experiment {
  name = "bench-" .. fn .. "-" .. method,
  trainer = { simulate = simulate },
  config = config,
  num_samples = n,
  metric = "value", mode = "min",
  stop = stop,
  scheduler = scheduler,
  searcher = searcher,
  max_concurrent = 1,
}
