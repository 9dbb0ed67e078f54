-- End-to-end: wrong experiment files and command lines (exit 2), and trainers that fail or
-- break the protocol (that trial ERROR, the others unaffected, exit 1).
local H = require "spec.e2e.helpers"

local header = 'local tune = require "tunelua"\n'

-- Runs a bad experiment file; returns the run and the file's path.
local function run_bad(src)
  local exp = H.experiment(src, "bad_exp.lua")
  local r = H.run { exp, "--dir", H.tmpdir() .. "/run" }
  return r, exp
end

local function has(s, needle)
  return s:find(needle, 1, true) ~= nil
end

describe("e2e: a wrong experiment file exits 2", function()
  teardown(H.cleanup)

  it("a syntax error names file:line", function()
    local r, exp = run_bad(header .. "return tune.experiment {\n"
      .. "  name = 'x', trainer = { cmd = { 'true' } },\n"
      .. "  config = { x = 1 + },\n" -- line 4
      .. "}\n")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "bad_exp.lua:4:"), r.stderr)
    assert.is_true(has(r.stderr, exp) or has(r.stderr, "bad_exp.lua"), r.stderr)
  end)

  it("a runtime error in the file names file:line", function()
    local r = run_bad(header .. "local x = 1\n\nlocal y = x.field.deeper\n" -- line 4
      .. "return tune.experiment { trainer = { cmd = { 'true' } } }\n")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "bad_exp.lua:4:"), r.stderr)
  end)

  it("an error() call in the file names file:line and the message", function()
    local r = run_bad(header .. "\n\nerror('no data set here')\n") -- line 4
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "bad_exp.lua:4:"), r.stderr)
    assert.is_true(has(r.stderr, "no data set here"), r.stderr)
  end)

  it("loguniform(0, 1) names the file, the line of the call and config.optim.lr", function()
    local r = run_bad(header .. "return tune.experiment {\n"
      .. "  name = 'x', trainer = { cmd = { 'true' } },\n"
      .. "  config = {\n"
      .. "    optim = {\n"
      .. "      momentum = tune.uniform(0, 1),\n"
      .. "      lr = tune.loguniform(0, 1),\n" -- line 7
      .. "    },\n"
      .. "  },\n"
      .. "}\n")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "bad_exp.lua:7:"), r.stderr)
    assert.is_true(has(r.stderr, "config.optim.lr"), r.stderr)
  end)

  it("an unknown field (stopp) is named", function()
    local r = run_bad(header .. "return tune.experiment {\n"
      .. "  name = 'x', trainer = { cmd = { 'true' } },\n"
      .. "  stopp = { training_iteration = 3 },\n"
      .. "}\n")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "stopp"), r.stderr)
  end)

  -- DESIGN.md, exit codes: "the message names the file, line and field"
  it("an unknown field (stopp) names the experiment file and line", function()
    local r = run_bad(header .. "return tune.experiment {\n"
      .. "  name = 'x', trainer = { cmd = { 'true' } },\n"
      .. "  stopp = { training_iteration = 3 },\n"
      .. "}\n")
    assert.are.equal(2, r.code, H.describe(r))
    -- the line of the tune.experiment call (2) or of the field (4)
    assert.is_true(has(r.stderr, "bad_exp.lua:2:") or has(r.stderr, "bad_exp.lua:4:"), r.stderr)
  end)

  it("an unknown field also names the file when the experiment is not a tail call", function()
    local r = run_bad(header .. "local e = tune.experiment {\n"
      .. "  name = 'x', trainer = { cmd = { 'true' } },\n"
      .. "  stopp = { training_iteration = 3 },\n"
      .. "}\nreturn e\n")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "stopp"), r.stderr)
    assert.is_true(has(r.stderr, "bad_exp.lua:2:") or has(r.stderr, "bad_exp.lua:4:"), r.stderr)
  end)

  it("metric without mode is refused", function()
    local r = run_bad(header .. "return tune.experiment {\n"
      .. "  name = 'x', trainer = { cmd = { 'true' } }, metric = 'loss',\n"
      .. "}\n")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "mode"), r.stderr)
    assert.is_true(has(r.stderr, "loss"), r.stderr)
    assert.is_true(has(r.stderr, "bad_exp.lua:"), r.stderr)
  end)

  -- A searcher has on_result too, so it passed for a scheduler that never stops anything.
  for _, c in ipairs {
    { "scheduler = tune.searchers.tpe {},", "bad_exp.lua:4: scheduler is a searcher (tpe)" },
    { "schedulers = { t = tune.searchers.tpe {} },",
      "bad_exp.lua:4: schedulers.t is a searcher (tpe)" },
  } do
    it(c[1] .. " is refused with the line", function()
      local r = run_bad(header .. "return tune.experiment {\n"
        .. "  trainer = { cmd = { 'true' } },\n  " .. c[1] .. "\n}\n")
      assert.are.equal(2, r.code, H.describe(r))
      assert.is_true(has(r.stderr, c[2]), r.stderr)
    end)
  end

  it("a file that returns no experiment is refused", function()
    local r = run_bad("return 42\n")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "bad_exp.lua"), r.stderr)
  end)

  it("writes no trials for a wrong file", function()
    local exp = H.experiment(header .. "return tune.experiment { stopp = 1,"
      .. " trainer = { cmd = { 'true' } } }\n")
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_false(H.isdir(dir .. "/trials"), "a wrong file started trials")
  end)
end)

describe("e2e: a wrong command line exits 2", function()
  teardown(H.cleanup)
  local ok_exp = header .. "return tune.experiment { name = 'x', trainer = { cmd = { 'true' } } }\n"

  it("--frobnicate", function()
    local exp = H.experiment(ok_exp)
    local r = H.run { exp, "--frobnicate", "--dir", H.tmpdir() .. "/run" }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "--frobnicate"), r.stderr)
  end)

  it("a missing experiment file", function()
    local missing = H.tmpdir() .. "/no_such_experiment.lua"
    local r = H.run { missing }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "no_such_experiment.lua"), r.stderr)
  end)

  it("a non-numeric --seed", function()
    local exp = H.experiment(ok_exp)
    local r = H.run { exp, "--seed", "abc", "--dir", H.tmpdir() .. "/run" }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "--seed"), r.stderr)
  end)

  it("an option without its value", function()
    local exp = H.experiment(ok_exp)
    local r = H.run { exp, "--dir" }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_true(has(r.stderr, "--dir"), r.stderr)
  end)
end)

describe("e2e: a trainer command that does not exist", function()
  teardown(H.cleanup)

  it("ends each trial ERROR with the reason in summary.json and stderr.log, exit 1", function()
    local exp = H.experiment(H.exp_src {
      name = "e2e-nocmd",
      cmd = '{ "/nonexistent/e2e-trainer-xyz", "--flag" }',
      extra = "  num_samples = 2,",
    })
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir }
    assert.are.equal(1, r.code, H.describe(r))
    local s = H.summary(dir)
    assert.are.equal("done", s.status)
    assert.are.equal(2, #s.trials)
    for _, t in ipairs(s.trials) do
      assert.are.equal("ERROR", t.status)
      assert.are.equal("string", type(t.error))
      assert.is_true(has(t.error, "/nonexistent/e2e-trainer-xyz"), t.error)
      assert.is_true(has(t.error:lower(), "not found") or has(t.error, "No such file"), t.error)
      local log = H.read(dir .. "/trials/" .. t.id .. "/stderr.log") or ""
      assert.is_true(has(log, "/nonexistent/e2e-trainer-xyz"), "stderr.log: " .. log)
    end
  end)
end)

describe("e2e: failing and misbehaving trainers", function()
  local r, dir, s, by_mode, t0, t1
  setup(function()
    local exp = H.experiment(H.exp_src {
      name = "e2e-fail",
      cmd = H.sh_trainer("modes.sh"),
      trainer_extra = "stop_grace_s = 0.5",
      config = '{ mode = tune.grid_search { "ok", "crash", "notfound", "garbage", "huge", '
        .. '"wrongtoken", "ignore_stop" } }',
      extra = [[  metric = "loss", mode = "min", stop = { training_iteration = 3 },]],
    })
    dir = H.tmpdir() .. "/run"
    t0 = H.now()
    r = H.run { exp, "--dir", dir, "--cpus", "8" }
    t1 = H.now()
    s = H.summary(dir)
    by_mode = {}
    for _, t in ipairs(s.trials) do by_mode[t.config.mode] = t end
  end)
  teardown(function()
    -- the ignore_stop trainer's child, should the engine have left it behind
    local pid = tonumber(H.read(dir .. "/trials/" .. by_mode.ignore_stop.id .. "/child.pid")
      or "")
    if pid then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    H.cleanup()
  end)

  local function stderr_log(mode)
    return H.read(dir .. "/trials/" .. by_mode[mode].id .. "/stderr.log") or ""
  end

  it("exits 1 with status done and the good trial TERMINATED", function()
    assert.are.equal(1, r.code, H.describe(r))
    assert.are.equal("done", s.status)
    assert.are.equal(7, #s.trials)
    local ok = by_mode.ok
    assert.are.equal("TERMINATED", ok.status)
    assert.are.equal(3, ok.iterations)
    assert.are.equal(H.null, ok.error)
    assert.are.equal(ok.id, s.best_trial)
    assert.is_true(t1 - t0 < 20, "the run took " .. (t1 - t0) .. " s")
  end)

  it("a crash (exit 7): ERROR, 'exited with code 7' and the last stderr line", function()
    local t = by_mode.crash
    assert.are.equal("ERROR", t.status)
    assert.are.equal(1, t.failures)
    assert.are.equal(1, t.iterations)
    assert.is_true(has(t.error, "exited with code 7"), t.error)
    assert.is_true(has(t.error, "boom: the trainer broke down"), t.error)
  end)

  it("a command the trainer runs is not found: ERROR with code 127", function()
    local t = by_mode.notfound
    assert.are.equal("ERROR", t.status)
    assert.is_true(has(t.error, "exited with code 127"), t.error)
    assert.is_true(has(t.error, "tunelua-e2e-no-such-command-here"), t.error)
  end)

  it("non-JSON on the socket: ERROR with 'protocol error', process killed", function()
    local t = by_mode.garbage
    assert.are.equal("ERROR", t.status)
    assert.is_true(has(t.error, "protocol error"), t.error)
    assert.is_true(has(stderr_log("garbage"), "protocol error"), stderr_log("garbage"))
    -- raw.py sleeps 20 s after the violation: only a kill ends it this soon
    assert.is_true(has(t.error, "signal"), t.error)
  end)

  it("a line over 1 MiB: ERROR mentioning 1 MiB", function()
    local t = by_mode.huge
    assert.are.equal("ERROR", t.status)
    assert.is_true(has(t.error, "protocol error"), t.error)
    assert.is_true(has(t.error, "1 MiB"), t.error)
    assert.are.equal(0, t.iterations)
  end)

  it("a wrong token: ERROR with 'wrong token' in summary.json and stderr.log", function()
    local t = by_mode.wrongtoken
    assert.are.equal("ERROR", t.status)
    assert.is_true(has(t.error, "wrong token"), t.error)
    assert.is_true(has(stderr_log("wrongtoken"), "wrong token"), stderr_log("wrongtoken"))
    assert.are.equal(0, t.iterations)
  end)

  it("a trainer ignoring stop is SIGTERMed, then SIGKILLed with its group; TERMINATED",
    function()
      local t = by_mode.ignore_stop
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(3, t.iterations)
      assert.are.equal(H.null, t.error)
      local log = stderr_log("ignore_stop")
      assert.is_true(has(log, "told to stop; not stopping"), log)
      assert.is_true(has(log, "got TERM, ignoring it"), "no SIGTERM before SIGKILL: " .. log)
      local pid = tonumber(H.read(dir .. "/trials/" .. t.id .. "/child.pid") or "")
      assert.is_not_nil(pid, "the trainer wrote no child.pid")
      assert.is_false(H.alive(pid), "the trainer's background child " .. pid .. " survived")
    end)

  it("journals each failing trial's end with its reason", function()
    local ends = {}
    for _, ev in ipairs(H.journal(dir)) do
      if ev.ev == "status" and ev.status == "ERROR" then ends[ev.trial] = ev.reason end
    end
    for _, mode in ipairs { "crash", "notfound", "garbage", "huge", "wrongtoken" } do
      local reason = ends[by_mode[mode].id]
      assert.are.equal("string", type(reason), mode)
    end
  end)
end)

describe("e2e: max_failures", function()
  teardown(H.cleanup)

  it("retries a crashing trial once with max_failures = 1, then ERROR with failures = 2",
    function()
      local exp = H.experiment(H.exp_src {
        name = "e2e-retry",
        cmd = H.sh_trainer("modes.sh"),
        config = '{ mode = tune.grid_search { "crash", "ok" } }',
        extra = [[  max_failures = 1, metric = "loss", mode = "min",
  stop = { training_iteration = 3 },]],
      })
      local dir = H.tmpdir() .. "/run"
      local r = H.run { exp, "--dir", dir, "--cpus", "2" }
      assert.are.equal(1, r.code, H.describe(r))
      local s = H.summary(dir)
      local crash = H.trials_where(s, "mode", "crash")[1]
      local ok = H.trials_where(s, "mode", "ok")[1]
      local starts = {}
      for _, ev in ipairs(H.journal(dir)) do
        if ev.ev == "started" then starts[ev.trial] = (starts[ev.trial] or 0) + 1 end
      end
      assert.are.equal(2, starts[crash.id])
      assert.are.equal(1, starts[ok.id])
      assert.are.equal("ERROR", crash.status)
      assert.are.equal(2, crash.failures)
      -- training_iteration continues across retries (DESIGN.md)
      assert.are.equal(2, crash.iterations)
      assert.are.equal(2, crash.last_result.training_iteration)
      assert.is_true(has(crash.error, "exited with code 7"), crash.error)
      assert.are.equal("TERMINATED", ok.status)
      assert.are.equal(0, ok.failures)
    end)

  it("with max_failures = 0 (the default) a crash is final at once", function()
    local exp = H.experiment(H.exp_src {
      name = "e2e-noretry",
      cmd = H.sh_trainer("modes.sh"),
      config = '{ mode = "crash" }',
    })
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir }
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.are.equal(1, t.failures)
  end)
end)
