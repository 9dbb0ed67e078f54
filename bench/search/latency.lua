-- Median milliseconds per TPE suggestion after n completed trials, 8 float parameters.
--   luajit bench/search/latency.lua 1000
package.path = "lua/?.lua;./?.lua;" .. package.path
local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"
local tpe = require "schedulers.tpe"

local n = tonumber(arg[1] or "1000")
local reps = tonumber(arg[2] or "21")
local space = {}
for i = 1, 8 do space["x" .. i] = dsl.uniform(0, 1) end
local s = tpe {}
s:setup { space = space, num_samples = n + reps + 1, rng = rng.new(1):derive("searcher"),
  metric = "loss", mode = "min", trials = {} }
local data = rng.new(2)
for i = 1, n do
  local id = "t" .. i
  local c = s:suggest(id)
  -- configs the model learns from are random, as in the Optuna half of the benchmark
  local loss = 0
  for k = 1, 8 do
    c["x" .. k] = data:random()
    loss = loss + (c["x" .. k] - 0.3) ^ 2
  end
  s:on_trial_complete(id, { loss = loss })
end
local times = {}
for r = 1, reps do
  local id = "q" .. r
  local t0 = os.clock()
  s:suggest(id)
  times[r] = (os.clock() - t0) * 1e3
  s:on_trial_complete(id, nil, true)
end
table.sort(times)
print(string.format("%.4f", times[math.floor((reps + 1) / 2)]))
