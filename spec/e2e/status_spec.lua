-- End-to-end: `tunelua status DIR` and `tunelua summary DIR`, from a second process, on a
-- running experiment, a finished one, an interrupted one and one whose engine was killed -9.
local H = require "spec.e2e.helpers"

local function status(dir, ...)
  local r = H.run({ "status", dir, ... }, { no_wrap = true })
  return r
end

local function status_json(dir, cmd)
  local r = H.run({ cmd or "status", dir, "--json" }, { no_wrap = true })
  assert.are.equal(0, r.code, H.describe(r))
  return H.decode(r.stdout), r
end

-- result lines in the journal, and the last training_iteration of each trial
local function journal_results(dir)
  local n, last = 0, {}
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == "result" then
      n = n + 1
      last[e.trial] = e.result.training_iteration
    end
  end
  return n, last
end

local function running_with_results(dir, want)
  local n = H.running(dir, 2)
  return n and n >= want
end

local function slow_exp(name, marker)
  return H.experiment(H.exp_src {
    name = name,
    cmd = H.sh_trainer("steps.sh", "300", "0.05", marker),
    extra = [[  num_samples = 2, metric = "loss", mode = "min",]],
  })
end

local function check_schema(s)
  for _, k in ipairs { "dir", "name", "status", "elapsed_s", "counts", "trials_total", "results",
    "trials", "engine" } do
    assert.is_not_nil(s[k], k)
  end
  assert.are.equal("string", type(s.engine.state))
  local total = 0
  for _, st in ipairs { "PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR" } do
    assert.are.equal("number", type(s.counts[st]), st)
    total = total + s.counts[st]
  end
  assert.are.equal(s.trials_total, total)
  assert.are.equal(#s.trials, s.trials_total)
  local sum = 0
  for _, t in ipairs(s.trials) do
    for _, k in ipairs { "id", "status", "iterations", "failures", "metric", "config", "error" } do
      assert.is_not_nil(t[k], k .. " of trial " .. tostring(t.id))
    end
    sum = sum + t.iterations
  end
  assert.are.equal(sum, s.results)
end

describe("e2e: status of a running experiment, from another process", function()
  local marker, h, dir, code
  setup(function()
    marker = H.marker("tlstat")
    dir = H.tmpdir() .. "/run"
    h = H.spawn({ slow_exp("e2e-status", marker), "--dir", dir, "--cpus", "2", "--quiet" })
    assert.is_truthy(H.wait_for(function() return running_with_results(dir, 2) end, 20),
      "no two RUNNING trials with results in summary.json")
  end)
  teardown(function()
    if not code and h then h.kill("KILL") end
    H.reap(marker)
    H.cleanup()
  end)

  it("--json: running, the engine's pid, trials, counts as fresh as the journal", function()
    local before = journal_results(dir)
    local s = status_json(dir)
    check_schema(s)
    assert.are.equal("running", s.status)
    assert.are.equal("running", s.engine.state)
    assert.are.equal(h.pid, s.engine.pid)
    assert.are.equal("e2e-status", s.name)
    assert.are.equal("loss", s.metric)
    assert.are.equal("min", s.mode)
    assert.are.equal(2, s.counts.RUNNING)
    assert.is_true(s.results >= before, s.results .. " results, the journal had " .. before)
    assert.is_true(s.summary_age_s >= 0 and s.summary_age_s < 5, tostring(s.summary_age_s))
    -- the best trial is the one with the lowest last loss
    local best
    for _, t in ipairs(s.trials) do
      assert.are.equal("RUNNING", t.status)
      assert.is_true(t.iterations >= 2)
      if not best or t.metric < best.metric then best = t end
    end
    assert.are.equal(best.id, s.best_trial)
    assert.are.equal(best.id, s.best.trial)
    assert.are.equal(best.metric, s.best.value)
  end)

  it("text: the state, the engine, counts and the best trial", function()
    local r = status(dir)
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_truthy(r.stdout:find("status      running (engine pid " .. h.pid .. ")", 1, true),
      r.stdout)
    assert.is_truthy(r.stdout:find("trials      2: 2 running, 0 pending", 1, true), r.stdout)
    assert.is_truthy(r.stdout:find("best        trial 0000[01]: loss="), r.stdout)
    assert.is_truthy(r.stdout:find("\ntrial%s+status%s+iter%s+loss"), r.stdout)
    r = H.run({ "summary", dir }, { no_wrap = true })
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_truthy(r.stdout:find("Best trial 0000[01] %(RUNNING%): loss="), r.stdout)
  end)

  it("a second engine on the same directory is refused (exit 2) while it runs", function()
    local r = H.run({ "resume", dir, "--quiet" }, { no_wrap = true })
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(
      r.stderr:find("in use by another tunelua engine (pid " .. h.pid .. ")", 1, true),
      r.stderr)
  end)

  it("after Ctrl-C: interrupted, the engine ended", function()
    h.kill("INT")
    code = h.wait(15)
    assert.are.equal(3, code)
    local s = status_json(dir)
    check_schema(s)
    assert.are.equal("interrupted", s.status)
    assert.are.equal("ended", s.engine.state)
    assert.are.equal(H.null, s.engine.pid)
    assert.are.equal(2, s.counts.PAUSED)
    assert.is_falsy(H.exists(dir .. "/engine.lock"))
    local r = status(dir)
    assert.is_truthy(r.stdout:find("status      interrupted, %d+s elapsed; `tunelua resume "),
      r.stdout)
  end)
end)

describe("e2e: status of an engine killed with SIGKILL", function()
  local marker, h, dir
  setup(function()
    marker = H.marker("tlkill")
    dir = H.tmpdir() .. "/run"
    h = H.spawn({ slow_exp("e2e-killed", marker), "--dir", dir, "--cpus", "2", "--quiet" })
    assert.is_truthy(H.wait_for(function() return running_with_results(dir, 2) end, 20))
    H.sleep(0.3)
    h.kill("KILL")
    assert.is_truthy(h.wait(10))
  end)
  teardown(function()
    H.reap(marker)
    H.cleanup()
  end)

  it("shows it interrupted, the engine gone, with every journaled result counted", function()
    H.reap(marker) -- trainers of a dead engine fail their next report and exit anyway
    local n, last = journal_results(dir)
    local s = status_json(dir)
    check_schema(s)
    assert.are.equal("interrupted", s.status)
    assert.are.equal("gone", s.engine.state)
    assert.are.equal(h.pid, s.engine.pid)
    assert.are.equal("running", H.summary(dir).status, "summary.json as the dead engine left it")
    assert.are.equal(n, s.results)
    for _, t in ipairs(s.trials) do assert.are.equal(last[t.id] or 0, t.iterations, t.id) end
    local r = status(dir)
    assert.is_truthy(r.stdout:find("interrupted: the engine (pid " .. h.pid .. ") is gone without "
      .. "finishing (killed or crashed); `tunelua resume " .. dir .. "` continues it", 1, true),
      r.stdout)
  end)
end)

describe("e2e: status and summary of a finished experiment", function()
  local dir
  setup(function()
    dir = H.tmpdir() .. "/run"
    -- trial 00003 (x = 0.1) fails each time: it ends ERROR after its retry
    local cmd = 'if [ "$TUNELUA_TRIAL_ID" = 00003 ]; then echo boom >&2; exit 7; fi; exec sh '
      .. H.trainers .. "/cfgsteps.sh 3 0"
    local exp = H.experiment(H.exp_src {
      name = "e2e-done",
      cmd = H.lit(cmd),
      config = "{ x = tune.grid_search { 0.5, 0.25, 0.75, 0.1 }, opt = { kind = 'sgd' } }",
      extra = [[  metric = "loss", mode = "min", seed = 5, max_failures = 1,]],
    })
    local r = H.run { exp, "--dir", dir, "--cpus", "2", "--quiet" }
    assert.are.equal(1, r.code, H.describe(r))
  end)
  teardown(H.cleanup)

  it("status --json: done, the engine ended, the best trial of summary.json", function()
    local s = status_json(dir)
    check_schema(s)
    local sum = H.summary(dir)
    assert.are.equal("done", s.status)
    assert.are.equal("ended", s.engine.state)
    assert.are.equal(H.null, s.engine.pid)
    assert.are.equal(5, s.seed)
    assert.are.equal(3, s.counts.TERMINATED)
    assert.are.equal(1, s.counts.ERROR)
    assert.are.equal(9, s.results)
    assert.are.equal(sum.best_trial, s.best_trial)
    assert.are.equal(0.25, s.best.config.x)
    assert.is_true(math.abs(s.best.value - (0.25 + 1 / 3)) < 1e-6, tostring(s.best.value))
    assert.are.equal(3, s.best.iteration)
    local failed = s.trials[4]
    assert.are.equal("00003", failed.id)
    assert.are.equal("ERROR", failed.status)
    assert.are.equal(2, failed.failures)
    assert.are.equal(H.null, failed.metric)
    assert.are.equal("trainer exited with code 7; last stderr line: boom", failed.error)
    assert.is_falsy(H.exists(dir .. "/engine.lock"))
  end)

  it("summary --json: every trial best first, with its results", function()
    local s = status_json(dir, "summary")
    check_schema(s)
    local xs = {}
    for _, t in ipairs(s.trials) do
      xs[#xs + 1] = t.config.x
      assert.are.equal("trials/" .. t.id, t.dir)
      if t.status == "TERMINATED" then
        assert.are.equal("table", type(t.last_result))
        assert.are.equal("table", type(t.best_result))
        assert.are.equal(t.metric, t.last_result.loss)
      end
    end
    assert.are.same({ 0.25, 0.5, 0.75, 0.1 }, xs)
  end)

  it("summary: the final table by metric, the errors, the best trial and its config", function()
    local r = H.run({ "summary", dir }, { no_wrap = true })
    assert.are.equal(0, r.code, H.describe(r))
    local out = r.stdout
    assert.is_truthy(out:find("status      done, %d+s elapsed"), out)
    assert.is_truthy(out:find("trials      4: 0 running, 0 pending, 0 paused, 3 terminated, "
      .. "1 error; 9 results", 1, true), out)
    local header = out:match("\n(trial%s+status%s+iter%s+loss[^\n]*)")
    assert.is_truthy(header and header:find("%f[%w]x%f[%W]") and header:find("kind"), out)
    local order = {}
    for st, x in out:gmatch("\n%d%d%d%d%d%s+(%u+)%s+%d+%s+%S+%s+%d%s+sgd%s+(%S+)") do
      order[#order + 1] = st .. " " .. x
    end
    assert.are.same({ "TERMINATED 0.25", "TERMINATED 0.5", "TERMINATED 0.75", "ERROR 0.1" }, order,
      out)
    assert.is_truthy(out:find("\nerrors:\n  00003: trainer exited with code 7; last stderr line: "
      .. "boom\n", 1, true), out)
    local best = H.summary(dir).best_trial
    assert.is_truthy(out:find("Best trial " .. best
      .. " (TERMINATED): loss=0.583333 after 3 iterations", 1, true), out)
    assert.is_truthy(out:find('config {"opt":{"kind":"sgd"},"x":0.25}', 1, true), out)
  end)

  it("reads the same trials from the journal alone when summary.json is missing", function()
    local copy = H.tmpdir() .. "/copy"
    os.execute("cp -r " .. H.quote(dir) .. " " .. H.quote(copy) .. " && rm "
      .. H.quote(copy .. "/summary.json"))
    local s = status_json(copy)
    check_schema(s)
    assert.are.equal("done", s.status)
    assert.are.equal("e2e-done", s.name)
    assert.are.equal(5, s.seed)
    assert.are.equal(9, s.results)
    local want = H.summary(dir).trials
    assert.are.equal(#want, #s.trials)
    for i, t in ipairs(s.trials) do
      for _, k in ipairs { "id", "status", "iterations", "failures", "error", "config" } do
        assert.are.same(want[i][k], t[k], t.id .. " " .. k)
      end
    end
  end)
end)

describe("e2e: status of an experiment with many trials", function()
  local dir
  setup(function()
    dir = H.tmpdir() .. "/run"
    local exp = H.experiment([[
local tune = require "tunelua"
return tune.experiment {
  name = "e2e-many",
  trainer = { simulate = function(c, it) return { loss = c.x }, it >= 2 end },
  config = { x = tune.uniform(0, 1) },
  num_samples = 25, metric = "loss", mode = "min", seed = 2,
}
]])
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
  end)
  teardown(H.cleanup)

  it("status shows 20 trials and says how many more; summary shows all, best first", function()
    local function rows(out)
      local list = {}
      for id, v in out:gmatch("\n(%d%d%d%d%d)%s+TERMINATED%s+2%s+(%S+)") do
        list[#list + 1] = { id = id, v = tonumber(v) }
      end
      return list
    end
    local r = status(dir)
    assert.are.equal(20, #rows(r.stdout), r.stdout)
    assert.is_truthy(r.stdout:find("\n... and 5 more (tunelua summary " .. dir
      .. " lists them all)\n", 1, true), r.stdout)
    r = H.run({ "summary", dir }, { no_wrap = true })
    local all = rows(r.stdout)
    assert.are.equal(25, #all, r.stdout)
    for i = 2, #all do assert.is_true(all[i - 1].v <= all[i].v, r.stdout) end
    assert.are.equal(H.summary(dir).best_trial, all[1].id)
  end)
end)

describe("e2e: status and summary on bad input", function()
  teardown(H.cleanup)

  it("exit 2 with a clear message", function()
    local empty = H.tmpdir()
    local file = H.write(empty .. "/f.txt", "x")
    local cases = {
      { { "status", empty .. "/nope" }, "no such directory" },
      { { "summary", empty .. "/nope", "--json" }, "no such directory" },
      { { "status", empty },
        "is not an experiment directory (no summary.json or journal.jsonl in it)" },
      { { "status", file }, "not a directory" },
      { { "status" }, "which experiment?" },
      { { "status", empty, "--bogus" }, "unexpected argument --bogus" },
      { { "summary", empty, empty }, "unexpected argument" },
    }
    for _, c in ipairs(cases) do
      local r = H.run(c[1], { no_wrap = true })
      assert.are.equal(2, r.code, H.describe(r))
      assert.is_truthy(r.stderr:find(c[2], 1, true), r.stderr)
      assert.are.equal("", r.stdout)
    end
  end)
end)

-- `tunelua status` on a folder of experiments (what `tunelua compare` makes, or tunelua_runs/
-- itself) names the experiments in it, so the next command is obvious.
describe("e2e: status of a directory that holds experiments", function()
  teardown(H.cleanup)

  it("a compare directory: exit 2, each run's directory and its state", function()
    local out = H.tmpdir() .. "/cmp"
    local r = H.run { "compare", H.root .. "/examples/research/mf.lua", "--schedulers",
      "fifo,asha", "--repeat", "1", "--budget", "50", "--dir", out }
    assert.are.equal(0, r.code, H.describe(r))
    for _, cmd in ipairs { "status", "summary" } do
      r = H.run({ cmd, out }, { no_wrap = true })
      assert.are.equal(2, r.code, H.describe(r))
      assert.truthy(r.stderr:find("is not an experiment directory", 1, true), r.stderr)
      assert.truthy(r.stderr:find("tunelua " .. cmd .. " " .. out .. "/NAME", 1, true), r.stderr)
      assert.truthy(r.stderr:find("\n  asha%-random%-r1 +done\n"), r.stderr)
      assert.truthy(r.stderr:find("\n  fifo%-random%-r1 +done\n"), r.stderr)
      assert.is_nil(r.stderr:find("compare.html", 1, true), r.stderr)
    end
  end)
end)
