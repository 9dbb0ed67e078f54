-- ASHA against FIFO with random search on the synthetic multi-fidelity benchmark
-- (examples/research/mf.lua): the same seed gives both the same 81 configurations and the
-- same curves; ASHA should find FIFO's best final value with a third of its results.
local H = require "spec.e2e.helpers"

local function src(preset, scheduler)
  return table.concat({
    'local tune = require "tunelua"',
    "local mf = dofile(" .. H.lit(H.root .. "/examples/research/mf.lua") .. ")",
    "local p = mf.preset(" .. H.lit(preset) .. ")",
    "return tune.experiment {",
    "  trainer = { simulate = mf.trainer(p), iteration_time = 1 },",
    "  config = mf.space(p, tune), num_samples = 81, metric = 'loss', mode = 'min',",
    "  stop = { training_iteration = 81 }, max_concurrent = 8,",
    "  scheduler = " .. scheduler .. ",",
    "}", "" }, "\n")
end

local ASHA = "tune.schedulers.asha { max_t = 81, grace_period = 1, reduction_factor = 3 }"
local PROMO = "tune.schedulers.asha { max_t = 81, grace_period = 1, reduction_factor = 3, " ..
  "promotion = true }"
local FIFO = "tune.schedulers.fifo {}"

-- Runs an experiment; returns the best loss among trials that reached iteration 81 and the
-- number of results in the journal.
local function measure(preset, scheduler, seed)
  local path = H.experiment(src(preset, scheduler))
  local dir = H.tmpdir() .. "/run"
  local r = H.run { path, "--dir", dir, "--seed", tostring(seed), "--quiet" }
  assert.are.equal(0, r.code, H.describe(r))
  local best = math.huge
  for _, t in ipairs(H.summary(dir).trials) do
    if t.iterations == 81 and t.last_result.loss < best then best = t.last_result.loss end
  end
  -- counting lines is much faster than decoding 6561 results
  local results = tonumber(H.capture("grep -c '\"ev\":\"result\"' " .. H.quote(dir) ..
    "/journal.jsonl"))
  return best, results
end

describe("budget: ASHA vs FIFO on mf.lua", function()
  teardown(H.cleanup)

  for _, seed in ipairs { 1, 2, 3 } do
    it("preset good, seed " .. seed .. ": FIFO's best with <= 1/3 of its results", function()
      local fbest, fres = measure("good", FIFO, seed)
      assert.are.equal(81 * 81, fres)
      for _, sched in ipairs { ASHA, PROMO } do
        local abest, ares = measure("good", sched, seed)
        assert.is_true(abest <= fbest, string.format("%s: %g > FIFO %g", sched, abest, fbest))
        assert.is_true(3 * ares <= fres, string.format("%s: %d results", sched, ares))
      end
    end)
  end

  it("preset bad (low fidelity ranks inverted): ASHA stops the best configuration early", function()
    local fbest = measure("bad", FIFO, 1)
    local abest, ares = measure("bad", ASHA, 1)
    assert.is_true(abest > fbest + 0.1, string.format("%g vs %g", abest, fbest))
    assert.is_true(3 * ares <= 81 * 81)
  end)
end)
