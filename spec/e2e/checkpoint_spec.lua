-- End-to-end: the engine's side of checkpoints, pause/resume, exploit and shared objects,
-- driven by a trainer that speaks the protocol directly (spec/e2e/trainers/ckpt_raw.py).
local H = require "spec.e2e.helpers"

local trainer = H.py_trainer("ckpt_raw.py")

-- A scheduler, as Lua source, that pauses each trial once at iteration `at`.
local pauser = [[
  scheduler = (function()
    local paused = {}
    return { name = "pauser",
      on_result = function(_, t, r)
        if r.training_iteration == %d and not paused[t.id] then
          paused[t.id] = true
          return "pause"
        end
        return "continue"
      end }
  end)(),
]]

local function run(config, extra, args)
  local exp, d = H.experiment(H.exp_src { name = "ckpt", cmd = trainer, config = config,
    extra = extra })
  local dir = d .. "/run"
  local argv = { exp, "--dir", dir, "--quiet" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = H.run(argv)
  return r, dir
end

local function xs(dir, id)
  local out = {}
  for _, r in ipairs(H.jsonl(dir .. "/trials/" .. id .. "/result.jsonl")) do
    out[#out + 1] = { r.training_iteration, r.x }
  end
  return out
end

local function ls(path)
  local out = {}
  local p = io.popen("ls " .. H.quote(path) .. " 2>/dev/null")
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

describe("e2e: checkpoints", function()
  teardown(H.cleanup)

  it("pause then resume restores the state and continues training_iteration", function()
    local r, dir = run("{ step = 2 }", [[
  metric = "x", mode = "max", stop = { training_iteration = 6 },
  checkpoint = { keep = 5 },
]] .. pauser:format(3))
    assert.are.equal(0, r.code, H.describe(r))
    -- the pause at 3 asked for a checkpoint; the second process restored x = 6 from it
    assert.are.same({ { 1, 2 }, { 2, 4 }, { 3, 6 }, { 4, 8 }, { 5, 10 }, { 6, 12 } },
      xs(dir, "00000"))
    local log = H.read(dir .. "/trials/00000/stderr.log")
    assert.truthy(log:find('"restore": "' .. dir .. '/trials/00000/checkpoints/checkpoint_000003"',
      1, true), log)
    assert.truthy(log:find('"iteration": 3', 1, true))
    local t = H.summary(dir).trials[1]
    assert.are.equal("TERMINATED", t.status)
    assert.are.equal("trials/00000/checkpoints/checkpoint_000003", t.checkpoint)
    local statuses = {}
    for _, ev in ipairs(H.journal(dir)) do
      if ev.ev == "status" then statuses[#statuses + 1] = ev.status end
    end
    assert.are.same({ "RUNNING", "PAUSED", "RUNNING", "TERMINATED" }, statuses)
  end)

  it("a scheduler can ask for a checkpoint with a decision table", function()
    local r, dir = run("{ step = 1 }", [[
  stop = { training_iteration = 4 },
  scheduler = { name = "asker", on_result = function(_, _, r)
    if r.training_iteration == 2 then return { action = "continue", checkpoint = true } end
  end },
]])
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.same({ "checkpoint_000002" }, ls(dir .. "/trials/00000/checkpoints"))
  end)

  it("keeps the newest checkpoint.keep checkpoints", function()
    local r, dir = run("{ step = 1 }", [[
  stop = { training_iteration = 7 }, checkpoint = { every = 1, keep = 2 },
]])
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.same({ "checkpoint_000005", "checkpoint_000006" },
      ls(dir .. "/trials/00000/checkpoints"))
    local deleted = H.count(H.journal(dir), function(e) return e.ev == "checkpoint_deleted" end)
    assert.are.equal(4, deleted)
  end)

  it("keeps the best by checkpoint.score, and always the newest", function()
    local r, dir = run("{ step = 1 }", [[
  stop = { training_iteration = 5 }, metric = "x", mode = "max",
  checkpoint = { every = 1, keep = 1, score = "x", score_mode = "min" },
]])
    assert.are.equal(0, r.code, H.describe(r))
    -- x grows, so the best by min x is the first checkpoint (x = 1); the newest (x = 4)
    -- stays as well, since a restart restores it
    assert.are.same({ "checkpoint_000001", "checkpoint_000004" },
      ls(dir .. "/trials/00000/checkpoints"))
  end)

  it("an exploit restarts the trial from a copy of the other's checkpoint with its config",
    function()
    -- one slot: trial 00000 (step 10) runs to the end first (its newest checkpoint is that of
    -- iteration 5, x = 50: the stop at 6 asks for none); 00001 (step 1) takes it at
    -- iteration 4 and goes on with step 100
    local r, dir = run("{ step = tune.grid_search { 10, 1 } }", [[
  stop = { training_iteration = 6 }, checkpoint = { every = 1 }, max_concurrent = 1,
  scheduler = (function()
    local exp
    return { name = "exploiter",
      setup = function(_, e) exp = e end,
      on_result = function(_, t, r)
        if t.index == 2 and r.training_iteration == 4 and t.config.step == 1 then
          return { exploit = exp.trials[1], config = { step = 100 } }
        end
        return "continue"
      end }
  end)(),
]])
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.same({ { 1, 1 }, { 2, 2 }, { 3, 3 }, { 4, 4 }, { 5, 150 }, { 6, 250 } },
      xs(dir, "00001"))
    local t = H.trials_by_id(H.summary(dir))["00001"]
    assert.are.equal(100, t.config.step)
    assert.are.equal("TERMINATED", t.status)
    local ev = {}
    for _, e in ipairs(H.journal(dir)) do
      if e.trial == "00001" and (e.ev == "exploit" or e.ev == "status") then
        ev[#ev + 1] = e.ev == "exploit" and ("exploit from " .. e.from) or e.status
      end
    end
    assert.are.same({ "RUNNING", "exploit from 00000", "PENDING", "RUNNING", "TERMINATED" }, ev)
    assert.truthy(H.isdir(dir .. "/trials/00001/checkpoints/checkpoint_000004-from-00000"))
  end)

  it("a recorded path outside the trial's directory fails the trial", function()
    local r, dir = run("{ step = 1, mode = 'outside' }", [[
  stop = { training_iteration = 4 }, checkpoint = { every = 2 },
]])
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.truthy(t.error:find("outside the trial's directory", 1, true), t.error)
    assert.truthy(H.read(dir .. "/trials/00000/stderr.log"):find("outside the trial's directory",
      1, true))
  end)

  it("a recorded path that does not exist fails the trial", function()
    local r, dir = run("{ step = 1, mode = 'missing' }", [[
  stop = { training_iteration = 4 }, checkpoint = { every = 2 },
]])
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.truthy(t.error:find("does not exist", 1, true), t.error)
  end)

  it("a half-written checkpoint is never restored and is removed before the retry", function()
    local r, dir = run("{ step = 1, mode = 'die_in_ckpt' }", [[
  stop = { training_iteration = 3 }, checkpoint = { every = 2 }, max_failures = 1,
]])
    assert.are.equal(0, r.code, H.describe(r))
    local log = H.read(dir .. "/trials/00000/stderr.log")
    local welcomes = {}
    for w in log:gmatch("welcome (%b{})") do welcomes[#welcomes + 1] = H.decode(w) end
    assert.are.equal(2, #welcomes)
    assert.are.equal(H.null, welcomes[2].restore) -- nothing recorded: a fresh start
    assert.are.equal(2, welcomes[2].iteration)    -- but the count goes on
    for _, name in ipairs(ls(dir .. "/trials/00000/checkpoints")) do
      assert.is_nil(name:find("^tmp%-"), name)
    end
    assert.are.equal(1, H.summary(dir).trials[1].failures)
  end)

  it("a checkpoint deleted under the engine fails the trial instead of starting over", function()
    -- the scheduler pauses the trial at 2, then deletes its checkpoint as it picks it again
    local r, dir = run("{ step = 1 }", [[
  stop = { training_iteration = 4 }, checkpoint = { every = 1 },
  scheduler = (function()
    local paused, exp = false, nil
    return { name = "saboteur",
      setup = function(_, e) exp = e end,
      on_result = function(_, _, r)
        if r.training_iteration == 2 and not paused then
          paused = true
          return "pause"
        end
        return "continue"
      end,
      choose_trial_to_run = function()
        for _, t in ipairs(exp.trials) do
          if t.status == "PAUSED" then os.execute("rm -rf '" .. t.checkpoint .. "'") end
          if t.status == "PAUSED" or t.status == "PENDING" then return t end
        end
      end }
  end)(),
]])
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.truthy(t.error:find("has vanished", 1, true), t.error)
    assert.are.equal(2, #xs(dir, "00000")) -- it did not start over
  end)

  it("shared objects reach every trial read-only", function()
    local d = H.tmpdir()
    H.write(d .. "/data.txt", "forty-two\n")
    local exp = d .. "/exp.lua"
    H.write(exp, table.concat({
      'local tune = require "tunelua"',
      "tune.share('data', " .. H.lit(d .. "/data.txt") .. ")",
      "return tune.experiment {",
      "  trainer = { cmd = " .. trainer .. " },",
      "  config = { step = tune.grid_search { 1, 2 } },",
      "  stop = { training_iteration = 1 },",
      "}",
    }, "\n"))
    local dir = d .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local copy = dir .. "/shared/data"
    for _, id in ipairs { "00000", "00001" } do
      local log = H.read(dir .. "/trials/" .. id .. "/stderr.log")
      assert.truthy(log:find("shared data forty-two", 1, true), log)
      assert.truthy(log:find(copy, 1, true), log)
    end
    local mode = H.capture("stat -c %a " .. H.quote(copy)):gsub("%s+$", "")
    assert.are.equal("444", mode)
  end)
end)
