-- ASHA: Ray's stopping rule and the paper's promotion variant, driven directly and through
-- the tunelua binary on the simulate executor.
package.path = "lua/?.lua;" .. package.path
local asha = require "schedulers.asha"
local trials = require "tunelua.trials"
local S = require "spec.schedulers.helpers"
local H = require "spec.e2e.helpers"

-- loss = x + 1/it; trials run one after the other in this order
local XS = { 0.5, 0.2, 0.8, 0.1, 0.9, 0.35, 0.7, 0.45, 0.6 }
local function cfgs()
  local out = {}
  for i, x in ipairs(XS) do out[i] = { x = x } end
  return out
end
local function loss(t, it) return t.config.x + 1 / it end
local function acc(t, it) return -(t.config.x + 1 / it) end

-- Rung 1 holds 1.5, 1.2, 1.8, ...; trial 2 (1.8) is below the 2/3 quantile of {1.5, 1.2}
-- (1.3) and stops; trial 5 (1.35) against {1.5 1.2 1.8 1.1 1.9} (cutoff 1.3) stops; trials
-- 0, 1, 3 pass every rung and stop at max_t = 9.
local STOPPING = { "0+0", "0s9", "1+0", "1s9", "2+0", "2s1", "3+0", "3s9", "4+0", "4s1", "5+0",
  "5s1", "6+0", "6s1", "7+0", "7s1", "8+0", "8s1" }
-- Promotion: rung 1 promotes its top floor(n/3); trial 3 is the best at rung 1 when it
-- arrives and goes on at once; trial 5 is promoted when rung 1 holds 9, then waits at rung 3
-- while trial 3 (the best there) is promoted to the end.
local PROMOTION = { "0+0", "0p1", "1+0", "1p1", "2+0", "2p1", "1+1", "1p3", "3+0", "3p3", "4+0",
  "4p1", "5+0", "5p1", "6+0", "6p1", "7+0", "7p1", "8+0", "8p1", "5+1", "5p3", "3+3", "3s9" }

describe("asha (unit)", function()
  it("stops exactly the trials below the rung cutoff (min)", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3 }
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.same({ 1, 3, 9 }, s.ladders[1].t)
    assert.are.same(STOPPING, S.drive(s, exp, "loss", loss, 50))
  end)

  it("makes the same decisions on the mirrored curves (max)", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3, metric = "acc",
      mode = "max" }
    local exp = S.harness(s, cfgs(), "other", "min") -- the scheduler's metric/mode win
    assert.are.same(STOPPING, S.drive(s, exp, "acc", acc, 50))
  end)

  it("stop_last_trials = false lets trials run past max_t", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3, stop_last_trials = false }
    local exp = S.harness(s, cfgs(), "loss", "min")
    local ev = S.drive(s, exp, "loss", loss, 12)
    assert.are.equal("0e12", ev[2])
    assert.are.equal("2s1", ev[6])
  end)

  it("time_attr and rf = 4 by default; a result without the metric is ignored", function()
    local s = asha { time_attr = "time_total_s", max_t = 16 }
    S.harness(s, cfgs(), "loss", "min")
    assert.are.same({ 1, 4, 16 }, s.ladders[1].t)
    local t = { id = "x", index = 99, status = "RUNNING", config = {} }
    assert.are.equal("continue", s:on_result(t, { time_total_s = 1 }))
    assert.are.equal("continue", s:on_result(t, { loss = 1 }))
    assert.are.equal("stop", s:on_result(t, { time_total_s = 16, loss = 1 }))
  end)

  it("the experiment's stop rule: the final result is recorded by on_trial_complete", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3 }
    local exp = S.harness(s, cfgs(), "loss", "min")
    local t = exp.trials[1]
    s:on_trial_complete(t, { training_iteration = 3, loss = 0.7 })
    assert.are.equal(0.7, s.ladders[1]:get(2, t))
    -- the same result again (the scheduler saw it) is not recorded twice
    s:on_result(exp.trials[2], { training_iteration = 1, loss = 1.2 })
    s:on_trial_complete(exp.trials[2], { training_iteration = 1, loss = 1.2 })
    assert.are.equal(1, s.ladders[1]:count(1))
  end)

  it("brackets: softmax over their sizes with the scheduler's rng, reproducibly", function()
    local function counts()
      local s = asha { max_t = 81, grace_period = 1, reduction_factor = 3, brackets = 3 }
      local many = {}
      for i = 1, 300 do many[i] = { x = i } end
      S.harness(s, many, "loss", "min")
      local n = { 0, 0, 0 }
      for _, L in pairs(s.of) do
        for i, M in ipairs(s.ladders) do if L == M then n[i] = n[i] + 1 end end
      end
      return n, s
    end
    local n, s = counts()
    assert.are.same({ 5, 4, 3 }, { #s.ladders[1].t, #s.ladders[2].t, #s.ladders[3].t })
    -- weights 1, e^-1, e^-2: about 66%, 24%, 9%
    assert.is_true(n[1] > 170 and n[1] < 230, n[1])
    assert.is_true(n[2] > 45 and n[2] < 100, n[2])
    assert.is_true(n[3] > 10 and n[3] < 50, n[3])
    assert.are.same(n, (counts()))
  end)

  it("promotion: pauses at rungs, promotes the top 1/rf (the paper's Algorithm 2)", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3, promotion = true }
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.same(PROMOTION, S.drive(s, exp, "loss", loss, 50))
    local final = {}
    for _, t in ipairs(exp.trials) do final[#final + 1] = t.status:sub(1, 1) .. t.iteration end
    assert.are.same({ "P1", "P3", "P1", "T9", "P1", "P3", "P1", "P1", "P1" }, final)
  end)

  it("promotion: at the end the unpromoted trials are stopped, in trial order", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3, promotion = true }
    local exp = S.harness(s, cfgs(), "loss", "min")
    local stopped = {}
    exp.stop_trial = function(v, why) -- what the engine does with the request
      assert.are.equal("PAUSED", v.status)
      stopped[#stopped + 1] = v.id .. ": " .. why
      trials.set_status(exp.trials, v, "TERMINATED")
      s:on_trial_complete(v, v.last_result)
    end
    assert.are.same(PROMOTION, S.drive(s, exp, "loss", loss, 50)) -- the same promotions
    assert.are.same({
      "00000: not promoted from rung training_iteration = 1",
      "00001: not promoted from rung training_iteration = 3",
      "00002: not promoted from rung training_iteration = 1",
      "00004: not promoted from rung training_iteration = 1",
      "00005: not promoted from rung training_iteration = 3",
      "00006: not promoted from rung training_iteration = 1",
      "00007: not promoted from rung training_iteration = 1",
      "00008: not promoted from rung training_iteration = 1",
    }, stopped)
    assert.is_nil(s:choose_trial_to_run())
    assert.are.same({}, s.waiting)
  end)

  it("promotion: a trial the engine paused (an interrupted run) runs before a new one", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3, promotion = true }
    local exp = S.harness(s, cfgs(), "loss", "min")
    local a = s:choose_trial_to_run()
    trials.set_status(exp.trials, a, "RUNNING")
    assert.are.equal("pause", s:on_result(a, { training_iteration = 1, loss = 5 }))
    trials.set_status(exp.trials, a, "PAUSED") -- waits at rung 1: not chosen
    local b = s:choose_trial_to_run()
    assert.are.equal(exp.trials[2], b)
    trials.set_status(exp.trials, b, "RUNNING")
    trials.set_status(exp.trials, b, "PAUSED") -- the engine paused it with no decision
    assert.are.equal(b, s:choose_trial_to_run())
    trials.set_status(exp.trials, b, "RUNNING")
    assert.are.equal(exp.trials[3], s:choose_trial_to_run())
  end)

  it("promotion, max mode: the same schedule", function()
    local s = asha { max_t = 9, grace_period = 1, reduction_factor = 3, promotion = true,
      metric = "acc", mode = "max" }
    local exp = S.harness(s, cfgs(), "loss", "min")
    assert.are.same(PROMOTION, S.drive(s, exp, "acc", acc, 50))
  end)

  it("needs a metric and a mode", function()
    assert.has_error(function() S.harness(asha {}, cfgs(), nil, nil) end,
      "asha: needs a metric and a mode (got metric nil, mode nil): set them in the experiment " ..
      "or in asha { metric = ..., mode = ... }")
  end)

  describe("options", function()
    local cases = {
      { { grace_period = 10, max_t = 9 }, "grace_period (10) must be <= max_t (9)" },
      { { reduction_factor = 1 }, "reduction_factor must be a finite number > 1, got 1" },
      { { reduction_factor = "3" }, "reduction_factor must be a finite number > 1, got 3" },
      { { max_t = 0 }, "max_t must be a finite number > 0, got 0" },
      { { max_t = math.huge }, "max_t must be a finite number > 0, got inf" },
      { { grace_period = -1 }, "grace_period must be a finite number > 0, got -1" },
      { { brackets = 1.5 }, "brackets must be an integer >= 1, got 1.5" },
      { { brackets = 0 }, "brackets must be an integer >= 1, got 0" },
      { { time_attr = 3 }, "time_attr must be a result name, got 3" },
      { { mode = "up" }, 'mode must be "min" or "max", got up' },
      { { metric = false }, "metric must be a result name, got false" },
      { { stop_last_trials = "yes" }, "stop_last_trials must be a boolean, got yes" },
      { { promotion = 1 }, "promotion must be a boolean, got 1" },
      { { max_tt = 3 }, "unknown option 'max_tt' (accepted: brackets, grace_period, max_t, " ..
        "metric, mode, promotion, reduction_factor, stop_last_trials, time_attr)" },
    }
    for _, c in ipairs(cases) do
      it(c[2], function()
        local ok, err = pcall(function()
          local s = asha(c[1]) -- not a tail call, so the error has this line
          return s
        end)
        assert.is_false(ok)
        assert.are.equal("asha: " .. c[2], err:gsub("^[^:]*:%d+: ", ""))
        assert.truthy(err:find("asha_spec.lua:%d+: asha: "), err) -- points at the caller
      end)
    end
    it("options must be a table", function()
      assert.has_error(function() asha(3) end)
    end)
  end)
end)

describe("asha (e2e, simulate executor)", function()
  teardown(H.cleanup)

  local function run(src, seed)
    local path = H.experiment(src)
    local dir = H.tmpdir() .. "/run"
    local r = H.run { path, "--dir", dir, "--seed", tostring(seed or 1), "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    return H.summary(dir), H.journal(dir)
  end

  local function by_trial(summary)
    local out = {}
    for _, t in ipairs(summary.trials) do
      out[#out + 1] = t.status:sub(1, 1) .. t.iterations
    end
    return out
  end

  it("one slot: the exact stops of the unit case, in the journal (min and max)", function()
    for _, mode in ipairs { "min", "max" } do
      local summary, journal = run(S.grid_src(XS,
        "tune.schedulers.asha { max_t = 9, grace_period = 1, reduction_factor = 3 }",
        { mode = mode }))
      assert.are.same({ "T9", "T9", "T1", "T9", "T1", "T1", "T1", "T1", "T1" }, by_trial(summary))
      local dec, results = S.decisions(journal)
      assert.are.same({ ["00000"] = { "stop@9" }, ["00001"] = { "stop@9" },
        ["00002"] = { "stop@1" }, ["00003"] = { "stop@9" }, ["00004"] = { "stop@1" },
        ["00005"] = { "stop@1" }, ["00006"] = { "stop@1" }, ["00007"] = { "stop@1" },
        ["00008"] = { "stop@1" } }, dec)
      assert.are.equal(33, results)
    end
  end)

  it("one slot, promotion: who paused, who was promoted", function()
    local summary, journal = run(S.grid_src(XS, "tune.schedulers.asha { max_t = 9, " ..
      "grace_period = 1, reduction_factor = 3, promotion = true }"))
    -- the unpromoted end TERMINATED where they paused
    assert.are.same({ "T1", "T3", "T1", "T9", "T1", "T3", "T1", "T1", "T1" }, by_trial(summary))
    local starts = {}
    for _, e in ipairs(journal) do
      if e.ev == "started" then starts[#starts + 1] = tonumber(e.trial) end
    end
    -- the unit schedule's "+" events: 1, 5 and 3 are resumed by promotions
    assert.are.same({ 0, 1, 2, 1, 3, 4, 5, 6, 7, 8, 5, 3 }, starts)
    local dec = S.decisions(journal)
    assert.are.same({ "pause@1", "pause@3", "stop@3" }, dec["00001"])
    assert.are.same({ "pause@3", "stop@9" }, dec["00003"])
    assert.are.same({ "pause@1", "stop@1" }, dec["00008"])
    assert.are.equal("done", summary.status)
  end)

  for _, n in ipairs { 5, 8, 27 } do
    it("promotion, " .. n .. " trials on 4 slots: ending the losers changes no promotion",
      function()
      -- the same experiment with end_losers switched off (the behaviour before: losers stay
      -- PAUSED) must start, pause and promote exactly the same trials at the same iterations
      local function src(keep_paused)
        return table.concat({
          'local tune = require "tunelua"',
          "local s = tune.schedulers.asha { max_t = 27, grace_period = 1, reduction_factor = 3," ..
            " promotion = true, brackets = 2 }",
          keep_paused and "s.end_losers = function() end" or "",
          "return tune.experiment {",
          "  trainer = { simulate = function(c, it, st, rng) return { loss = c.x + 1 / it + " ..
            "0.01 * rng:normal() } end, iteration_time = function(c) return 1 + c.x end },",
          "  config = { x = tune.uniform(0, 1) }, num_samples = " .. n .. ",",
          "  metric = 'loss', mode = 'min',",
          "  max_concurrent = 4, scheduler = s,",
          "}", "" }, "\n")
      end
      local function schedule(journal)
        local out = {}
        for _, e in ipairs(journal) do
          if e.ev == "started" or (e.ev == "decision" and e.action == "pause") then
            out[#out + 1] = e.ev .. " " .. e.trial .. "@" .. tostring(e.iteration)
          elseif e.ev == "result" then
            out[#out + 1] = "result " .. e.trial .. "@" .. e.result.training_iteration
          end
        end
        return out
      end
      local s_new, j_new = run(src(false), 3)
      local s_old, j_old = run(src(true), 3)
      assert.are.same(schedule(j_old), schedule(j_new))
      local paused_before, promoted = 0, 0
      for i, t in ipairs(s_new.trials) do
        local o = s_old.trials[i]
        assert.are.equal(o.iterations, t.iterations, t.id)
        assert.are_not.equal("PAUSED", t.status, t.id)
        if o.status == "PAUSED" then
          paused_before = paused_before + 1
          assert.are.equal("TERMINATED", t.status, t.id)
        else
          assert.are.equal(o.status, t.status, t.id)
        end
        if t.iterations > 1 then promoted = promoted + 1 end
      end
      assert.is_true(paused_before >= math.floor(n / 3), paused_before)
      assert.is_true(promoted >= 1, promoted)
    end)
  end

  it("27 trials on 4 slots: stops only at rungs, deterministic for a seed", function()
    local src = table.concat({
      'local tune = require "tunelua"',
      "return tune.experiment {",
      "  trainer = { simulate = function(c, it, st, rng) return { loss = c.x + 1 / it + " ..
        "0.01 * rng:normal() } end, iteration_time = function(c) return 1 + c.x end },",
      "  config = { x = tune.uniform(0, 1) }, num_samples = 27, metric = 'loss', mode = 'min',",
      "  max_concurrent = 4,",
      "  scheduler = tune.schedulers.asha { max_t = 27, grace_period = 1, reduction_factor = 3 },",
      "}", "" }, "\n")
    local s1, j1 = run(src, 5)
    local _, j2 = run(src, 5)
    local d1, n1 = S.decisions(j1)
    local d2, n2 = S.decisions(j2)
    assert.are.same(d1, d2)
    assert.are.equal(n1, n2)
    local rung = { [1] = true, [3] = true, [9] = true, [27] = true }
    local early = 0
    for id, list in pairs(d1) do
      assert.are.equal(1, #list, id)
      local it = tonumber(list[1]:match("stop@(%d+)"))
      assert.is_true(rung[it], list[1])
      if it < 27 then early = early + 1 end
    end
    assert.are.equal(27, #s1.trials)
    assert.is_true(early >= 18, early)        -- most trials stop early
    assert.is_true(n1 < 27 * 27 / 3, n1)      -- a fraction of FIFO's 729 results
  end)

  describe("bad options: exit 2, naming the option and the experiment's line", function()
    local cases = {
      { "max_t = 9, grace_period = 10", "grace_period" },
      { "reduction_factor = 1", "reduction_factor" },
      { "brackets = 0", "brackets" },
      { "max_t = 'x'", "max_t" },
      { "stop_last_trials = 1", "stop_last_trials" },
      { "gracePeriod = 1", "gracePeriod" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local path = H.experiment(S.grid_src({ 0.5 }, "tune.schedulers.asha { " .. c[1] .. " }"))
        local r = H.run { path, "--dir", H.tmpdir() .. "/run", "--quiet" }
        assert.are.equal(2, r.code, H.describe(r))
        assert.truthy(r.stderr:find(path .. ":8: asha: ", 1, true), r.stderr)
        assert.truthy(r.stderr:find(c[2], 1, true), r.stderr)
      end)
    end
  end)
end)
