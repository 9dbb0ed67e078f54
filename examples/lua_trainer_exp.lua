-- A LuaJIT trainer (examples/lua_trainer.lua) under tunelua. From the repo root:
--   ./tunelua examples/lua_trainer_exp.lua
local tune = require "tunelua"

return tune.experiment {
  name = "lua-trainer",
  trainer = { cmd = { "luajit", "examples/lua_trainer.lua" }, resources = { cpu = 1 } },
  config = {
    lr = tune.grid_search { 0.02, 0.05 },
    momentum = tune.grid_search { 0.0, 0.9 },
    steps = 20,
  },
  metric = "loss", mode = "min",
  stop = { training_iteration = 20 },
  checkpoint = { every = 5, keep = 2 },
}
