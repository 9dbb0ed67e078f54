-- A model-based searcher alone in a luajit loop (no engine): N trials over B5's
-- four-parameter space, 8 in flight, the oldest completing first; each trial reports
-- training_iteration 1..10 (BOHB's budgets) and completes. Prints the mean µs of a
-- suggestion for each tenth of the run, then the CPU seconds of the whole loop.
--   luajit bench/search/suggest_loop.lua tpe 3000
--   luajit bench/search/suggest_loop.lua tpe-univariate 3000
--   luajit bench/search/suggest_loop.lua bohb 3000
package.path = "lua/?.lua;./?.lua;" .. package.path
local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"

local kind, n = arg[1] or "tpe", tonumber(arg[2] or "3000")
local make = {
  tpe = function() return require "schedulers.tpe" { metric = "loss", mode = "min" } end,
  ["tpe-univariate"] = function()
    return require "schedulers.tpe" { metric = "loss", mode = "min", multivariate = false }
  end,
  bohb = function() return require "schedulers.bohb" { metric = "loss", mode = "min" } end,
}
assert(make[kind], "the searcher: tpe, tpe-univariate or bohb")
local space = { lr = dsl.loguniform(1e-4, 1e-1), wd = dsl.uniform(0, 0.3),
  act = dsl.choice { "relu", "tanh" }, layers = dsl.randint(1, 5) }
local s = make[kind]()
s:setup { space = space, num_samples = n, rng = rng.new(1):derive("searcher"), metric = "loss",
  mode = "min", trials = {}, seed = 1, warn = function() end }
local noise = rng.new(7)
local running, marks = {}, {}
local t_all, spent = os.clock(), 0
local tenth = math.max(1, math.floor(n / 10))
for i = 1, n do
  local id = string.format("%05d", i - 1)
  local t0 = os.clock()
  local c = s:suggest(id)
  spent = spent + os.clock() - t0
  running[#running + 1] = { id, c }
  if #running >= 8 then
    local e = table.remove(running, 1)
    local loss
    for it = 1, 10 do
      loss = e[2].lr / it + noise:uniform(0, 0.01)
      s:on_result(e[1], { training_iteration = it, loss = loss })
    end
    s:on_trial_complete(e[1], { training_iteration = 10, loss = loss })
  end
  if i % tenth == 0 then
    marks[#marks + 1] = string.format("%d: %.0f", i, spent / tenth * 1e6)
    spent = 0
  end
end
print(kind .. ", µs a suggestion by tenth of the run: " .. table.concat(marks, ", "))
print(string.format("loop CPU %.2f s", os.clock() - t_all))
