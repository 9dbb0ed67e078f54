-- The median stopping rule (Ray Tune's MedianStoppingRule), driven directly and through the
-- tunelua binary on the simulate executor.
package.path = "lua/?.lua;" .. package.path
local median = require "schedulers.median"
local S = require "spec.schedulers.helpers"
local H = require "spec.e2e.helpers"

local XS = { 0.5, 0.2, 0.8, 0.1, 0.9, 0.35 }
local function cfgs()
  local out = {}
  for i, x in ipairs(XS) do out[i] = { x = x } end
  return out
end
local function loss(t, it) return t.config.x + 1 / it end
local function acc(t, it) return -(t.config.x + 1 / it) end
local OPTS = { time_attr = "training_iteration", grace_period = 2, min_samples_required = 2 }
local function opts(extra)
  local o = {}
  for k, v in pairs(OPTS) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- All six trials wait PENDING (as Ray's generator makes them). 0 and 1 yield at t = 2 for
-- lack of samples; 2 (best 1.3) is worse than the median of running means {1.0, 0.7} and
-- stops; 3 continues (0.6 < median 1.0) and yields at 3; 4 stops; 5 continues at 2 and
-- yields at 3; 0 resumes and stops at 3 (0.833 vs median of 3's and 5's means over [2, 3],
-- 0.642); 1 passes and yields each time it is alone past t; 5 stops at 4.
local HARD = { "0+0", "0p2", "1+0", "1p2", "2+0", "2s2", "3+0", "3p3", "4+0", "4s2", "5+0", "5p3",
  "0+2", "0s3", "1+2", "1p4", "1+4", "1p5", "1+5", "1e6", "3+3", "3p4", "3+4", "3p5", "3+5",
  "3e6", "5+3", "5s4" }

describe("median (unit)", function()
  it("stops when the best value is worse than the median of running means (min)", function()
    local s = median(opts())
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.same(HARD, S.drive(s, exp, "loss", loss, 6))
  end)

  it("the same on mirrored curves (max)", function()
    local s = median(opts { metric = "acc", mode = "max" })
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.same(HARD, S.drive(s, exp, "acc", acc, 6))
  end)

  it("hard_stop = false pauses instead; paused trials run FIFO once nothing is new", function()
    local s = median(opts { hard_stop = false })
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.same({ "0+0", "0p2", "1+0", "1p2", "2+0", "2p2", "3+0", "3p3", "4+0", "4p2", "5+0",
      "5p3", "0+2", "0p3", "1+2", "1p4", "1+4", "1p5", "1+5", "1e6", "3+3", "3p4", "3+4", "3p5",
      "3+5", "3e6", "5+3", "5p4", "0+3", "0e6", "2+2", "2e6", "4+2", "4e6", "5+4", "5e6" },
      S.drive(s, exp, "loss", loss, 6))
  end)

  it("min_time_slice: no yield within the slice since the last one", function()
    local s = median(opts { min_time_slice = 3 })
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.same({ "0+0", "0p2", "1+0", "1p2", "2+0", "2s2", "3+0", "3p3", "4+0", "4s2", "5+0",
      "5p3", "0+2", "0s3", "1+2", "1e6", "3+3", "3e6", "5+3", "5s4" },
      S.drive(s, exp, "loss", loss, 6))
  end)

  it("time_attr defaults to time_total_s, grace_period to 60", function()
    local s = median {}
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.equal("time_total_s", s.opts.time_attr)
    assert.are.equal(60, s.opts.grace_period)
    assert.are.equal(3, s.opts.min_samples_required)
    -- nothing is decided before 60 s
    assert.are.equal("continue", s:on_result(exp.trials[1], { time_total_s = 59, loss = 9 }))
    -- a result without the metric or the time is ignored
    assert.are.equal("continue", s:on_result(exp.trials[1], { time_total_s = 99 }))
  end)

  it("a final result the rule did not see joins the curve once", function()
    local s = median(opts())
    local exp = S.harness(s, cfgs(), "loss", "min")
    local t = exp.trials[1]
    s:on_result(t, { training_iteration = 1, loss = 2 })
    s:on_trial_complete(t, { training_iteration = 1, loss = 2 })
    assert.are.equal(1, s.curves[t].n)
    s:on_trial_complete(t, { training_iteration = 2, loss = 1 })
    assert.are.equal(2, s.curves[t].n)
  end)

  describe("options", function()
    local cases = {
      { { grace_period = -1 }, "grace_period must be a number >= 0, got -1" },
      { { min_samples_required = 0 }, "min_samples_required must be an integer >= 1, got 0" },
      { { min_samples_required = 2.5 }, "min_samples_required must be an integer >= 1, got 2.5" },
      { { min_time_slice = "1" }, "min_time_slice must be a number >= 0, got 1" },
      { { hard_stop = "no" }, "hard_stop must be a boolean, got no" },
      { { time_attr = "" }, "time_attr must be a result name, got " },
      { { mode = "best" }, 'mode must be "min" or "max", got best' },
      { { grace = 1 }, "unknown option 'grace' (accepted: grace_period, hard_stop, metric, " ..
        "min_samples_required, min_time_slice, mode, time_attr)" },
    }
    for _, c in ipairs(cases) do
      it(c[2], function()
        local ok, err = pcall(function()
          local s = median(c[1]) -- not a tail call, so the error has this line
          return s
        end)
        assert.is_false(ok)
        assert.are.equal("median: " .. c[2], err:gsub("^[^:]*:%d+: ", ""))
        assert.truthy(err:find("median_spec.lua:%d+: median: "), err)
      end)
    end
  end)
end)

describe("median (e2e, simulate executor)", function()
  teardown(H.cleanup)

  it("one slot: trials 2 and 4 stop at 2, trial 5 at 3 (min and max)", function()
    for _, mode in ipairs { "min", "max" } do
      local path = H.experiment(S.grid_src(XS, "tune.schedulers.median { time_attr = " ..
        "'training_iteration', grace_period = 2, min_samples_required = 2 }",
        { mode = mode, extra = "  stop = { training_iteration = 6 }," }))
      local dir = H.tmpdir() .. "/run"
      local r = H.run { path, "--dir", dir, "--seed", "1", "--quiet" }
      assert.are.equal(0, r.code, H.describe(r))
      local status = {}
      for _, t in ipairs(H.summary(dir).trials) do
        status[#status + 1] = t.status:sub(1, 1) .. t.iterations
      end
      -- with trials created one at a time nothing waits, so nothing yields: 0 and 1 run on
      -- for lack of samples; 5 stops at 3 (0.683 against the median 0.617 of 0, 1 and 3)
      assert.are.same({ "T6", "T6", "T2", "T6", "T2", "T3" }, status)
      local dec = S.decisions(H.journal(dir))
      assert.are.same({ ["00002"] = { "stop@2" }, ["00004"] = { "stop@2" },
        ["00005"] = { "stop@3" } }, dec)
    end
  end)

  for _, c in ipairs { { "grace_period = -1", "grace_period" },
    { "hard_stop = 0", "hard_stop" }, { "min_samples = 2", "min_samples" } } do
    it("bad option " .. c[1] .. ": exit 2 with file, line and option", function()
      local path = H.experiment(S.grid_src({ 0.5 }, "tune.schedulers.median { " .. c[1] .. " }"))
      local r = H.run { path, "--dir", H.tmpdir() .. "/run", "--quiet" }
      assert.are.equal(2, r.code, H.describe(r))
      assert.truthy(r.stderr:find(path .. ":8: median: ", 1, true), r.stderr)
      assert.truthy(r.stderr:find(c[2], 1, true), r.stderr)
    end)
  end
end)
