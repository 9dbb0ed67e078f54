-- ASHA against FIFO (random search, every trial to max_t) on the synthetic multi-fidelity
-- benchmark of mf.lua, on the virtual clock:
--
--   ./tunelua examples/research/asha_vs_fifo.lua --seed 1
--   ./tunelua examples/research/asha_vs_fifo.lua --seed 1 --scheduler fifo
--
-- Same seed, same 81 configurations and the same curves; compare the best `loss` and the
-- number of results (lines with "ev":"result" in journal.jsonl). MF_PRESET=bad shows what
-- happens when a low fidelity ranks configurations badly.
local tune = require "tunelua"
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local mf = dofile(here .. "mf.lua")
local p = mf.preset(os.getenv("MF_PRESET") or "good")

return tune.experiment {
  name = "asha-vs-fifo",
  trainer = { simulate = mf.trainer(p), iteration_time = 1 },
  config = mf.space(p, tune),
  num_samples = 81,
  metric = "loss", mode = "min",
  stop = { training_iteration = 81 },
  max_concurrent = 8,
  scheduler = tune.schedulers.asha { max_t = 81, grace_period = 1, reduction_factor = 3 },
}
