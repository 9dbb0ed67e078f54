-- The quickstart: 2 grid points (activation) x 4 samples = 8 trials of a synthetic
-- learning curve (examples/quickstart.py), 15 results each. Run from the repo root:
--   ./tunelua examples/quickstart.lua
local tune = require "tunelua"

return tune.experiment {
  name = "quickstart",
  trainer = { cmd = { "python3", "examples/quickstart.py" }, resources = { cpu = 1 } },
  config = {
    lr = tune.loguniform(1e-4, 1e-1),
    momentum = tune.uniform(0.5, 0.99),
    width = tune.choice { 32, 64, 128 },
    activation = tune.grid_search { "relu", "tanh" },
  },
  num_samples = 4,
  metric = "accuracy", mode = "max",
  stop = { training_iteration = 15 },
  scheduler = tune.schedulers.fifo {},
  searcher = tune.searchers.random {},
}
