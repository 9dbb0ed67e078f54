-- End-to-end: a finished (TERMINATED) trial keeps its config, last and best results as text in
-- the engine (engine/trial.c, bench B6); summary.json, a resume and an exploit from it must
-- see the same values as while it ran.
local H = require "spec.e2e.helpers"

local SRC = [[
local tune = require "tunelua"
return tune.experiment {
  name = "finished",
  trainer = {
    simulate = function(c, it)
      local losses = { 0.5, 0.2, 0.7 }
      return { loss = losses[it] + c.lr, nested = { it = it, tag = c.opt.name .. "\"," } }
    end,
    iteration_time = 1,
  },
  config = { lr = tune.uniform(0, 0.1), opt = { name = tune.choice { "sgd", "adam" } } },
  num_samples = 4, metric = "loss", mode = "min", seed = 7,
  stop = { training_iteration = 3 },
}
]]

-- The values each trial's result.jsonl says its last and best (lowest loss) results are.
local function from_files(dir, id)
  local rows = H.jsonl(dir .. "/trials/" .. id .. "/result.jsonl")
  local best = rows[1]
  for _, r in ipairs(rows) do if r.loss < best.loss then best = r end end
  return rows[#rows], best
end

local function check(dir)
  local s = H.summary(dir)
  assert.are.equal(4, #s.trials)
  local best_id, best_loss
  for _, t in ipairs(s.trials) do
    assert.are.equal("TERMINATED", t.status)
    local last, best = from_files(dir, t.id)
    assert.are.same(last, t.last_result)
    assert.are.same(best, t.best_result)
    assert.are.equal(2, t.best_result.training_iteration)
    assert.are.equal(3, t.last_result.training_iteration)
    assert.are.equal(t.config.opt.name .. "\",", t.last_result.nested.tag)
    assert.is_true(t.config.lr >= 0 and t.config.lr < 0.1)
    if not best_loss or last.loss < best_loss then best_id, best_loss = t.id, last.loss end
  end
  assert.are.equal(best_id, s.best_trial)
  return s
end

describe("e2e: finished trials", function()
  it("summary.json holds every finished trial's config, last and best result", function()
    local exp, d = H.experiment(SRC)
    local dir = d .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet", "--executor", "simulate" }
    assert.are.equal(0, r.code, H.describe(r))
    local before = check(dir)
    -- a resume replays the journal (finished trials go back to text) and writes it again
    r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.same(before.trials, check(dir).trials)
  end)

  it("an exploit takes a finished trial's config and result (PBT on simulate)", function()
    local src = SRC:gsub("num_samples = 4", "num_samples = 6, max_concurrent = 2")
      :gsub("stop = { training_iteration = 3 },", [[
  stop = { training_iteration = 3 },
  checkpoint = { every = 1 },
  scheduler = tune.schedulers.pbt { time_attr = "training_iteration", perturbation_interval = 1,
    quantile_fraction = 0.5, hyperparam_mutations = { lr = tune.uniform(0, 0.1) } },]])
    local exp, d = H.experiment(src)
    local dir = d .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet", "--executor", "simulate" }
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(dir)
    for _, t in ipairs(s.trials) do
      assert.are.equal("TERMINATED", t.status)
      local last = from_files(dir, t.id)
      assert.are.same(last, t.last_result)
      assert.are.equal("table", type(t.config.opt))
    end
  end)
end)
