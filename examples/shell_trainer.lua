-- A shell trainer (examples/shell_trainer.sh) that speaks through the `tunelua`
-- subcommands. From the repo root:
--   ./tunelua examples/shell_trainer.lua
local tune = require "tunelua"

return tune.experiment {
  name = "shell-trainer",
  trainer = { cmd = { "sh", "examples/shell_trainer.sh" }, resources = { cpu = 1 } },
  config = {
    lr = tune.grid_search { 0.05, 0.2 },
    momentum = tune.grid_search { 0.0, 0.5 },
    steps = 12,
  },
  metric = "loss", mode = "min",
  stop = { training_iteration = 12 },
  checkpoint = { every = 4, keep = 2 },
}
