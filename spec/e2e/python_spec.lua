-- End-to-end: Python trainers through trainers/python/tunelua.py.
local H = require "spec.e2e.helpers"

describe("e2e: the quickstart trainer (examples/quickstart.py)", function()
  local r, dir, summary
  setup(function()
    -- quickstart.py with epochs = 3; stop after 2 results, so the client raises TrialStopped
    local exp = H.experiment(H.exp_src {
      name = "e2e-quick",
      cmd = '{ "python3", "examples/quickstart.py" }',
      trainer_extra = "resources = { cpu = 1 }",
      config = [[{ lr = tune.loguniform(1e-4, 1e-1), momentum = tune.uniform(0.5, 0.99),
    width = tune.choice { 32, 64, 128 }, activation = tune.grid_search { "relu", "tanh" },
    epochs = 3 }]],
      extra = [[  num_samples = 2, metric = "accuracy", mode = "max",
  stop = { training_iteration = 2 },
  scheduler = tune.schedulers.fifo {}, searcher = tune.searchers.random {},]],
    })
    dir = H.tmpdir() .. "/quick"
    r = H.run { exp, "--dir", dir, "--seed", "3" }
    summary = H.summary(dir)
  end)
  teardown(H.cleanup)

  it("exits 0 and prints the best trial", function()
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.equal("done", summary.status)
    local best = r.stdout:match("Best trial (%S+)")
    assert.is_truthy(best, H.describe(r))
    assert.are.equal(summary.best_trial, (best:gsub(":$", "")))
    assert.is_truthy(r.stdout:find(dir, 1, true), "the results path is printed")
  end)

  it("ends trials stopped through TrialStopped TERMINATED, not ERROR", function()
    assert.are.equal(4, #summary.trials)
    for _, t in ipairs(summary.trials) do
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(2, t.iterations)
      assert.are.equal(0, t.failures)
      assert.are.equal(H.null, t.error)
      assert.are.equal(3, t.config.epochs)
      assert.are.equal("number", type(t.last_result.accuracy))
      assert.are.equal(2, t.last_result.epoch)
      local err = H.read(dir .. "/trials/" .. t.id .. "/stderr.log") or ""
      assert.is_falsy(err:find("Traceback", 1, true), "stderr.log: " .. err)
    end
  end)

  it("picks the best trial by accuracy (max)", function()
    local best
    for _, t in ipairs(summary.trials) do
      if not best or t.last_result.accuracy > best.last_result.accuracy then best = t end
    end
    assert.are.equal(best.id, summary.best_trial)
  end)
end)

describe("e2e: Python trainers that end by themselves", function()
  teardown(H.cleanup)

  it("TERMINATED after a normal exit; ERROR with the exception after a raise", function()
    local exp = H.experiment(H.exp_src {
      name = "e2e-pyend",
      cmd = H.py_trainer("py_modes.py"),
      config = '{ mode = tune.grid_search { "finish", "raise" } }',
      extra = [[  metric = "loss", mode = "min", stop = { training_iteration = 10 },]],
    })
    local dir = H.tmpdir() .. "/pyend"
    local r = H.run { exp, "--dir", dir, "--cpus", "2" }
    assert.are.equal(1, r.code, H.describe(r))
    local s = H.summary(dir)
    local fin = H.trials_where(s, "mode", "finish")[1]
    local bad = H.trials_where(s, "mode", "raise")[1]
    assert.are.equal("TERMINATED", fin.status)
    assert.are.equal(3, fin.iterations)
    assert.are.equal(H.null, fin.error)
    assert.are.equal("ERROR", bad.status)
    assert.are.equal(2, bad.iterations)
    assert.are.equal("string", type(bad.error))
    assert.is_truthy(bad.error:find("ValueError: loss diverged", 1, true), bad.error)
    local log = H.read(dir .. "/trials/" .. bad.id .. "/stderr.log")
    assert.is_truthy(log:find("Traceback", 1, true), log)
  end)
end)
