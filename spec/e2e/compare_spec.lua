-- `tunelua compare`: the runs it makes (subdirectories, seeds, budget), what it reports (the
-- table, compare.json against the journals, compare.html), and its errors.
local H = require "spec.e2e.helpers"

local MF = H.root .. "/examples/research/mf.lua"

-- The results of a run directory's journal, in order: { trial, loss, vt }.
local function results(dir)
  local out = {}
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == "result" then
      out[#out + 1] = { trial = e.trial, loss = e.result.loss, vt = e.vt }
    end
  end
  return out
end

local function journal_seed(dir)
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == "experiment" then return e.seed end
  end
end

local function first_config(dir)
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == "trial_added" then return H.json(dir .. "/summary.json").trials[1].config, e end
  end
end

-- An experiment of n trials that run real processes until stopped: each reports a loss one
-- lower every 0.1 s.
local function counting_exp(n)
  return H.experiment(([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "/bin/sh", "-c",
    "i=0; while :; do i=$((i+1)); %s report loss=$((100 - i)) || exit 0; sleep 0.1; done" } },
  config = { x = tune.uniform(0, 1) }, num_samples = %d, max_concurrent = 2,
  metric = "loss", mode = "min",
}
]]):format(H.bin, n))
end

describe("tunelua compare", function()
  teardown(H.cleanup)

  describe("fifo,asha x 2 repeats on mf.lua with a budget of 300 results", function()
    local out, r, doc
    setup(function()
      out = H.tmpdir() .. "/cmp"
      r = H.run { "compare", MF, "--schedulers", "fifo,asha", "--repeat", "2", "--seed", "7",
        "--budget", "300", "--executor", "simulate", "--jobs", "2", "--dir", out }
      doc = r.code == 0 and H.json(out .. "/compare.json") or nil
    end)

    it("exits 0 and prints a row per method", function()
      assert.are.equal(0, r.code, H.describe(r))
      assert.truthy(r.stdout:find("method%s+runs%s+best loss %(mean ± sd%)"), r.stdout)
      assert.truthy(r.stdout:find("\nfifo%-random%s+2/2%s"), r.stdout)
      assert.truthy(r.stdout:find("\nasha%-random%s+2/2%s"), r.stdout)
      assert.truthy(r.stdout:find("budget 300 results"), r.stdout)
      assert.truthy(r.stdout:find("target: loss <= "), r.stdout)
    end)

    it("makes one normal experiment directory per method and repeat", function()
      for _, label in ipairs { "fifo-random-r1", "fifo-random-r2", "asha-random-r1",
        "asha-random-r2" } do
        local s = H.summary(out .. "/" .. label)
        assert.are.equal("done", s.status, label)
        assert.are.equal("loss", s.metric)
        assert.truthy(H.exists(out .. "/" .. label .. "/experiment.lua"))
      end
      assert.is_false(H.exists(out .. "/fifo-random-r3"))
    end)

    it("gives repeat k the seed S+k-1 for every method, so their trials start alike", function()
      for _, m in ipairs { "fifo", "asha" } do
        assert.are.equal(7, journal_seed(out .. "/" .. m .. "-random-r1"))
        assert.are.equal(8, journal_seed(out .. "/" .. m .. "-random-r2"))
      end
      assert.are.same(first_config(out .. "/fifo-random-r1"),
        first_config(out .. "/asha-random-r1"))
      assert.are_not.same(first_config(out .. "/fifo-random-r1"),
        first_config(out .. "/fifo-random-r2"))
      -- same curves: the first result of trial 00000 is the same number under both schedulers
      assert.are.equal(results(out .. "/fifo-random-r1")[1].loss,
        results(out .. "/asha-random-r1")[1].loss)
    end)

    it("stops each run at the budget (a few results past it are not counted)", function()
      for _, run in ipairs(doc.runs) do
        local res = results(out .. "/" .. run.dir)
        assert.are.equal(300, run.results, run.label)
        assert.are.equal(#res, run.results_total, run.label)
        assert.is_true(#res >= 300 and #res < 300 + 8, run.label .. ": " .. #res)
        for _, t in ipairs(H.summary(out .. "/" .. run.dir).trials) do
          assert.are.equal("TERMINATED", t.status, run.label .. " " .. t.id)
        end
      end
    end)

    it("writes compare.json: every run's figures match its journal", function()
      assert.are.equal(1, doc.version)
      assert.are.equal("loss", doc.metric)
      assert.are.equal("min", doc.mode)
      assert.are.equal(300, doc.budget.results)
      assert.are.equal(2, doc["repeat"])
      assert.are.equal(7, doc.seed)
      assert.are.equal("simulate", doc.executor)
      assert.are.equal(2, #doc.methods)
      assert.are.equal(4, #doc.runs)
      local by = {}
      for _, m in ipairs(doc.methods) do by[m.label] = m end
      for _, run in ipairs(doc.runs) do
        assert.are.equal(0, run.exit)
        assert.is_true(run.ok)
        local res = results(out .. "/" .. run.dir)
        local best, reached = math.huge, nil
        local ids = {}
        for i = 1, 300 do
          if res[i].loss < best then best = res[i].loss end
          if not reached and best <= doc.target then reached = i end
          ids[res[i].trial] = true
        end
        local ntrials = 0
        for _ in pairs(ids) do ntrials = ntrials + 1 end
        assert.are.equal(best, run.best, run.label)
        assert.are.equal(ntrials, run.trials, run.label)
        assert.are.equal(reached or false, run.iters_to_target, run.label)
        -- the best-so-far series: improvements only, ending at the best
        local s = run.best_so_far
        assert.are.equal(#s.results, #s.value)
        assert.are.equal(best, s.value[#s.value])
        for i = 2, #s.value do assert.is_true(s.value[i] < s.value[i - 1]) end
        assert.are.equal(res[s.results[1]].loss, s.value[1])
        assert.truthy(by[run.method], run.method)
      end
      for _, m in ipairs(doc.methods) do
        assert.are.equal(2, m.runs_ok)
        local b = {}
        for _, run in ipairs(doc.runs) do
          if run.method == m.label then b[#b + 1] = run.best end
        end
        assert.is_true(math.abs(m.best_mean - (b[1] + b[2]) / 2) < 1e-12)
        assert.is_true(math.abs(m.best_sd - math.abs(b[1] - b[2]) / math.sqrt(2)) < 1e-12)
        assert.are.equal(#m.curve.results.x, #m.curve.results.median)
        assert.are.equal(#m.curve.results.x, #m.curve.results.lo)
        for i = 1, #m.curve.results.x do
          assert.is_true(m.curve.results.lo[i] <= m.curve.results.median[i] + 1e-15)
          assert.is_true(m.curve.results.median[i] <= m.curve.results.hi[i] + 1e-15)
        end
      end
      -- the default target: the worst of the methods' median bests
      local worst = -math.huge
      for _, m in ipairs(doc.methods) do worst = math.max(worst, m.best_median) end
      assert.are.equal(worst, doc.target)
    end)

    -- The default target is the worst method's median best, so every method reaches it in at
    -- least half of its repeats; with 2 repeats (an even count) exactly half can reach it,
    -- and the median time to target is then the lower one, not "never".
    it("gives every method an iters/time to target, also with an even count of repeats",
      function()
        for _, m in ipairs(doc.methods) do
          assert.is_true(m.reached * 2 >= m.runs_ok, m.label)
          assert.are.equal("number", type(m.iters_to_target), m.label)
          assert.are.equal("number", type(m.time_to_target), m.label)
          local ks = {}
          for _, run in ipairs(doc.runs) do
            if run.method == m.label and run.iters_to_target then
              ks[#ks + 1] = run.iters_to_target
            end
          end
          table.sort(ks)
          assert.is_true(m.iters_to_target >= ks[1] and m.iters_to_target <= ks[#ks], m.label)
        end
        assert.is_nil(r.stdout:find("\n%S+%-random%s+2/2%s+%S+ ± %S+%s+%S+ ± %S+%s+%-"), r.stdout)
      end)

    it("writes compare.html: self-contained, the data embedded", function()
      local html = H.read(out .. "/compare.html")
      assert.truthy(html:find("<svg", 1, true))
      assert.truthy(html:find('"metric":"loss"', 1, true))
      assert.is_nil(html:find("<script src", 1, true))
      assert.is_nil(html:find("<link", 1, true))
      assert.is_nil(html:find("https?://[^\"]*%.js"))
      assert.is_nil(html:find("@import", 1, true))
    end)

    it("refuses to write over a comparison", function()
      local again = H.run { "compare", MF, "--schedulers", "fifo", "--repeat", "1", "--dir", out }
      assert.are.equal(2, again.code, H.describe(again))
      assert.truthy(again.stderr:find("already holds a comparison", 1, true), again.stderr)
    end)
  end)

  it("a time budget (virtual seconds under simulate) cuts every run at that time", function()
    local out = H.tmpdir() .. "/cmp"
    local r = H.run { "compare", MF, "--schedulers", "hyperband,pbt", "--repeat", "1",
      "--budget", "20s", "--dir", out }
    assert.are.equal(0, r.code, H.describe(r))
    local doc = H.json(out .. "/compare.json")
    assert.are.equal(20, doc.budget.time)
    for _, run in ipairs(doc.runs) do
      local res = results(out .. "/" .. run.dir)
      local within = 0
      for _, x in ipairs(res) do
        if x.vt <= 20 then within = within + 1 end
      end
      assert.are.equal(within, run.results, run.label)
      assert.is_true(run.time_used <= 20)
    end
  end)

  it("a wall-clock budget with real processes ends each run soon after it", function()
    local path = counting_exp(50)
    local out = H.tmpdir() .. "/cmp"
    local r = H.run { "compare", path, "--schedulers", "fifo", "--repeat", "2", "--jobs", "2",
      "--budget", "1s", "--dir", out }
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_true(r.secs < 15, tostring(r.secs))
    local doc = H.json(out .. "/compare.json")
    assert.are.equal("seconds", doc.time_unit)
    for _, run in ipairs(doc.runs) do
      assert.is_true(run.ok, run.label)
      assert.is_true(run.results >= 2 and run.time_used <= 1, run.label)
      assert.is_true(run.wall_s < 10, run.label .. ": " .. run.wall_s)
      for _, t in ipairs(H.summary(out .. "/" .. run.dir).trials) do
        assert.are.equal("TERMINATED", t.status, run.label .. " " .. t.id)
      end
    end
  end)

  it("SIGTERM: stops the runs (resumable), starts no more, reports what ended (exit 3)", function()
    local path = counting_exp(2)
    local out = H.tmpdir() .. "/cmp"
    local h = H.spawn { "compare", path, "--schedulers", "fifo", "--repeat", "3", "--jobs", "2",
      "--dir", out }
    assert.truthy(H.wait_for(function()
      local n = tonumber(H.capture("cat " .. H.quote(out) .. "/fifo-random-r*/journal.jsonl " ..
        "2>/dev/null | grep -c '\"ev\":\"result\"'"))
      return n and n >= 6
    end, 20))
    h.kill("TERM")
    local rc = h.wait(30)
    assert.are.equal(3, rc, H.read(h.stderr))
    local doc = H.json(out .. "/compare.json")
    local by = {}
    for _, run in ipairs(doc.runs) do by[run.label] = run end
    for _, k in ipairs { "1", "2" } do
      local run = by["fifo-random-r" .. k]
      assert.are.equal(3, run.exit)
      assert.is_true(run.ok and run.results > 0, run.label)
      assert.are.equal("interrupted", H.summary(out .. "/" .. run.dir).status)
    end
    assert.is_false(by["fifo-random-r3"].ok)
    assert.truthy(by["fifo-random-r3"].error:find("not started", 1, true))
    assert.truthy(H.read(h.stderr):find("interrupted", 1, true))
  end)

  it("reports a failing combination and still compares the others (exit 1)", function()
    local d = H.tmpdir()
    local crash = H.write(d .. "/crash.lua", [[
return function()
  return { name = "crash", on_result = function() os.exit(7) end }
end
]])
    local out = d .. "/cmp"
    local r = H.run { "compare", MF, "--schedulers", "fifo," .. crash, "--repeat", "1",
      "--budget", "100", "--dir", out }
    assert.are.equal(1, r.code, H.describe(r))
    assert.truthy(r.stdout:find("failed: crash%-random%-r1: exit 7"), r.stdout)
    local doc = H.json(out .. "/compare.json")
    local by = {}
    for _, run in ipairs(doc.runs) do by[run.label] = run end
    assert.is_true(by["fifo-random-r1"].ok)
    assert.is_false(by["crash-random-r1"].ok)
    assert.are.equal(7, by["crash-random-r1"].exit)
    assert.truthy(H.exists(out .. "/compare.html"))
  end)

  it("compares searchers too, and uses the experiment's named variants", function()
    local out = H.tmpdir() .. "/cmp"
    local r = H.run { "compare", MF, "--schedulers", "pbt", "--searchers", "random,tpe",
      "--repeat", "1", "--budget", "120", "--dir", out }
    assert.are.equal(0, r.code, H.describe(r))
    assert.truthy(r.stdout:find("\npbt%-random "), r.stdout)
    assert.truthy(r.stdout:find("\npbt%-tpe "), r.stdout)
    -- pbt is mf.lua's variant (perturbation_interval = 9): exploits at iteration 9
    local exploits = 0
    for _, e in ipairs(H.journal(out .. "/pbt-tpe-r1")) do
      if e.ev == "decision" and e.action == "exploit" then
        exploits = exploits + 1
        assert.are.equal(0, e.iteration % 9)
      end
    end
    assert.is_true(exploits > 0)
  end)

  describe("errors (exit 2, a message that names the problem)", function()
    local cases = {
      { { "compare", MF, "--schedulers", "fifo,nosuch" }, "unknown scheduler 'nosuch'" },
      { { "compare", MF, "--schedulers", "fifo", "--searchers", "nope" },
        "unknown searcher 'nope'" },
      { { "compare", MF, "--schedulers", "random" }, "'random' is not a scheduler" },
      { { "compare", MF, "--schedulers", "fifo", "--searchers", "asha" },
        "'asha' is not a searcher" },
      { { "compare", MF, "--schedulers", "fifo", "--bogus" }, "unknown option --bogus" },
      { { "compare", MF }, "--schedulers is required" },
      { { "compare", "--schedulers", "fifo" }, "no experiment file given" },
      { { "compare", MF, "--schedulers", "fifo", "--repeat", "0" },
        "--repeat expects a whole number" },
      { { "compare", MF, "--schedulers", "fifo", "--budget", "ten" }, "--budget: a budget is" },
      { { "compare", MF, "--schedulers", "fifo", "--repeat" }, "--repeat needs a value" },
      { { "compare", H.root .. "/examples/research/asha_vs_fifo.lua", "--schedulers", "pbt" },
        "schedulers = { pbt = tune.schedulers.pbt" },
      { { "compare", H.root .. "/examples/quickstart.lua", "--schedulers", "fifo", "--executor",
        "simulate" }, "needs trainer.simulate" },
      { { "compare", "/nonexistent/x.lua", "--schedulers", "fifo" }, "/nonexistent/x.lua" },
    }
    for _, c in ipairs(cases) do
      it(table.concat(c[1], " ", 3), function()
        local dir = H.tmpdir() .. "/cmp"
        local args = { "compare", "--dir", dir }
        for i = 2, #c[1] do args[#args + 1] = c[1][i] end
        local r = H.run(args)
        assert.are.equal(2, r.code, H.describe(r))
        assert.truthy(r.stderr:find(c[2], 1, true), r.stderr)
        assert.is_false(H.exists(dir .. "/compare.json"))
      end)
    end

    it("a broken experiment file names its file and line", function()
      local path = H.experiment([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { simulate = function() return { loss = 1 } end },
  metric = "loss", mode = "min",
  num_samples = 0,
}
]])
      local r = H.run { "compare", path, "--schedulers", "fifo", "--dir", H.tmpdir() .. "/c" }
      assert.are.equal(2, r.code, H.describe(r))
      assert.truthy(r.stderr:find(path .. ":5: num_samples", 1, true), r.stderr)
    end)
  end)
end)

-- An experiment on mf.lua's good preset, 30 iterations a trial, with `fields` added.
local function mf_exp(fields)
  return H.experiment(([[
local tune = require "tunelua"
local mf = dofile(%s)
local p = mf.preset("good")
return tune.experiment {
  trainer = { simulate = mf.trainer(p) },
  config = mf.space(p, tune), metric = "loss", mode = "min",
  stop = { training_iteration = 30 },
  %s
}
]]):format(H.lit(MF), fields))
end

describe("budget in the experiment file (tunelua run)", function()
  teardown(H.cleanup)

  it("{ results = 50 } ends the experiment after 50 results: every trial TERMINATED", function()
    local path = mf_exp("num_samples = 20, max_concurrent = 4, budget = { results = 50 },")
    local dir = H.tmpdir() .. "/run"
    local r = H.run { path, "--dir", dir, "--seed", "1", "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local n = #results(dir)
    assert.is_true(n >= 50 and n <= 53, tostring(n))
    local s = H.summary(dir)
    assert.are.equal("done", s.status)
    for _, t in ipairs(s.trials) do assert.are.equal("TERMINATED", t.status) end
    assert.is_true(#s.trials < 20)
  end)

  -- compare without --budget: the runs end at the file's budget, and compare counts what
  -- they used within it (not the few results past it) and says which budget it was.
  it("compare of a file with a budget counts each run within it", function()
    local path = mf_exp("num_samples = 20, max_concurrent = 4, budget = { results = 50 },")
    local out = H.tmpdir() .. "/cmp"
    local r = H.run { "compare", path, "--schedulers", "fifo,asha", "--repeat", "1",
      "--dir", out }
    assert.are.equal(0, r.code, H.describe(r))
    assert.truthy(r.stdout:find("budget 50 results", 1, true), r.stdout)
    local doc = H.json(out .. "/compare.json")
    assert.are.equal(50, doc.budget.results)
    for _, run in ipairs(doc.runs) do
      assert.are.equal(50, run.results, run.label)
      assert.is_true(run.results_total > 50, run.label)
    end
  end)

  it("rejects a malformed budget with the file and line", function()
    local path = H.experiment([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { simulate = function() return { loss = 1 } end },
  metric = "loss", mode = "min",
  budget = { results = 0 },
}
]])
    local r = H.run { path, "--dir", H.tmpdir() .. "/run", "--quiet" }
    assert.are.equal(2, r.code, H.describe(r))
    assert.truthy(r.stderr:find(":5: budget.results must be a whole number", 1, true), r.stderr)
  end)

  it("TUNELUA_BUDGET=5 (what compare sets) overrides it", function()
    local path = mf_exp("num_samples = 4, max_concurrent = 1,")
    local dir = H.tmpdir() .. "/run"
    local r = H.run({ path, "--dir", dir, "--quiet" }, { env = { TUNELUA_BUDGET = "5" } })
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.equal(5, #results(dir))
  end)
end)
