-- A LuaJIT trainer (trainers/lua/tunelua.lua): gradient descent with momentum on a
-- small quadratic, deterministic. Reports loss each step, checkpoints its state when
-- the engine asks, restores from it. Run through examples/lua_trainer_exp.lua, or by hand:
--   TUNELUA_PARAMS='{"lr":0.1,"momentum":0.5,"steps":3}' luajit examples/lua_trainer.lua
package.path = package.path .. ";./trainers/lua/?.lua" -- the engine sets LUA_PATH; by hand
local tune = require "tunelua"

local A, B = { 1, 2, 4, 8 }, { 1, -2, 3, -0.5 }

local function loss(x)
  local f = 0
  for i = 1, #A do f = f + 0.5 * A[i] * (x[i] - B[i]) ^ 2 end
  return f
end

local function save(state, dir)
  local f = assert(io.open(dir .. "/state.json", "w"))
  f:write(tune.encode(state))
  f:close()
end

local function load(dir)
  local f = assert(io.open(dir .. "/state.json", "r"))
  local state = tune.decode(f:read("*a"))
  f:close()
  return state
end

tune.run(function()
  local config = tune.params()
  local lr, mom, steps = config.lr or 0.05, config.momentum or 0, config.steps or 30
  local state = { step = 0, x = { 0, 0, 0, 0 }, v = { 0, 0, 0, 0 } }
  local restore = tune.restore_dir()
  if restore then
    state = load(restore)
    print(("lua_trainer: restored step %d from %s"):format(state.step, restore))
  end
  while state.step < steps do
    for i = 1, #A do
      state.v[i] = mom * state.v[i] - lr * A[i] * (state.x[i] - B[i])
      state.x[i] = state.x[i] + state.v[i]
    end
    state.step = state.step + 1
    tune.report { loss = loss(state.x), step = state.step, trainer = "lua" }
    if tune.should_checkpoint() then
      local d = tune.checkpoint_dir()
      save(state, d)
      tune.record_checkpoint(d) -- after a stop/pause this ends the run (TrialStopped)
    end
  end
end)
