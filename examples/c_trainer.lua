-- A C trainer (examples/c_trainer.c, through trainers/c/tunelua.h): each trial
-- compiles it into its own directory and runs it. From the repo root:
--   ./tunelua examples/c_trainer.lua
local tune = require "tunelua"

return tune.experiment {
  name = "c-trainer",
  trainer = {
    cmd = { "sh", "-c", 'cc -O2 -Itrainers/c -o "$TUNELUA_TRIAL_DIR/c_trainer" '
      .. 'examples/c_trainer.c && exec "$TUNELUA_TRIAL_DIR/c_trainer"' },
    resources = { cpu = 1 },
  },
  config = {
    lr = tune.grid_search { 0.02, 0.05 },
    momentum = tune.grid_search { 0.0, 0.9 },
    steps = 20,
  },
  metric = "loss", mode = "min",
  stop = { training_iteration = 20 },
  checkpoint = { every = 5, keep = 2 },
}
