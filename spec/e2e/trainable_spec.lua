-- End-to-end: the function and the class API of one trainer give the same results through
-- the real engine, across a pause/restore and a PBT-style exploit (restart for the function
-- trainer, an in-place reset for the class trainer with trainer.reuse); and metrics that are
-- not numbers are recorded but never make a trial the best.
local H = require "spec.e2e.helpers"

-- Pauses trial 00001 at iteration 2; at iteration 4 it exploits trial 00000 with step 5.
local scheduler = [[
  scheduler = (function()
    local exp, paused = nil, false
    return { name = "scripted",
      setup = function(_, e) exp = e end,
      on_result = function(_, t, r)
        if t.index == 2 and r.training_iteration == 2 and not paused then
          paused = true
          return "pause"
        end
        if t.index == 2 and r.training_iteration == 4 and t.config.step ~= 5 then
          return { exploit = exp.trials[1], config = { start = 0, step = 5 } }
        end
        return "continue"
      end }
  end)(),
]]

local function run(script, reuse)
  local exp, d = H.experiment(H.exp_src {
    name = "twins",
    cmd = '{ "python3", ' .. H.lit(H.root .. "/examples/" .. script) .. " }",
    trainer_extra = reuse and "reuse = true" or nil,
    config = "{ start = 0, step = tune.grid_search { 3, 1 } }",
    extra = [[
  metric = "score", mode = "max", stop = { training_iteration = 6 },
  checkpoint = { every = 1 }, max_concurrent = 1,
]] .. scheduler,
  })
  local dir = d .. "/run"
  local r = H.run { exp, "--dir", dir, "--quiet" }
  return r, dir
end

local function results(dir, id)
  local out = {}
  for _, r in ipairs(H.jsonl(dir .. "/trials/" .. id .. "/result.jsonl")) do
    out[#out + 1] = { r.training_iteration, r.x, r.score }
  end
  return out
end

local events = H.events

describe("e2e: function and class trainers", function()
  local fr, fdir, cr, cdir
  setup(function()
    fr, fdir = run("counter_fn.py", false)
    cr, cdir = run("counter_class.py", true)
  end)
  teardown(H.cleanup)

  it("both finish cleanly", function()
    assert.are.equal(0, fr.code, H.describe(fr))
    assert.are.equal(0, cr.code, H.describe(cr))
  end)

  it("give identical result streams", function()
    for _, id in ipairs { "00000", "00001" } do
      assert.are.same(results(fdir, id), results(cdir, id))
    end
  end)

  it("continue from the checkpoint after a pause and take the exploited state", function()
    -- 00000 (step 3) runs first: x = 3..18. 00001 (step 1): 1, 2, pause, restore x = 2:
    -- 3, 4, then exploit 00000's newest checkpoint (x = 15 at iteration 5) with step 5: 20, 25
    assert.are.same({ { 1, 1, -9 }, { 2, 2, -8 }, { 3, 3, -7 }, { 4, 4, -6 }, { 5, 20, -10 },
      { 6, 25, -15 } }, results(fdir, "00001"))
  end)

  it("restart the function trainer but reset the class trainer in place", function()
    assert.are.equal(0, #events(fdir, "reset"))
    local resets = events(cdir, "reset")
    assert.are.equal(1, #resets)
    assert.is_true(resets[1].ok)
    local function starts(dir)
      return H.count(events(dir, "started"), function(e) return e.trial == "00001" end)
    end
    assert.are.equal(3, starts(fdir)) -- first run, after the pause, after the exploit
    assert.are.equal(2, starts(cdir)) -- the exploit reused the process
  end)
end)

describe("e2e: metrics that are not numbers", function()
  teardown(H.cleanup)

  it("are recorded but never chosen as the best", function()
    local exp, d = H.experiment(H.exp_src {
      name = "nan",
      cmd = [[{ "python3", "-c", "import tunelua as t, math\n]] ..
        [[c = t.params()\nfor v in c['values']: t.report(acc=float(v) if v == 'NaN' else v)" }]],
      config = "{ values = tune.grid_search { { 0.5, 0.6 }, { 0.9, 'NaN' }, { 0.7, 'x' } } }",
      extra = '  metric = "acc", mode = "max",',
    })
    local dir = d .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(dir)
    -- 00001's last acc is a float NaN (JSON null on the wire), 00002's is the string "x":
    -- only 00000's 0.6 is a number
    assert.are.equal("00000", s.best_trial)
    local t1 = H.trials_by_id(s)["00001"]
    assert.are.equal(H.null, t1.last_result.acc)
    assert.are.equal(0.9, t1.best_result.acc) -- its best numeric result is kept as such
    local rows = H.jsonl(dir .. "/trials/00002/result.jsonl")
    assert.are.equal("x", rows[2].acc)
  end)
end)
