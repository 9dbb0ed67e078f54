-- End-to-end: kill -9 the engine at random moments and resume; nothing acknowledged is
-- lost, nothing is repeated, and the result is that of an uninterrupted run.
local H = require "spec.e2e.helpers"

local function kill9(marker)
  for _, pid in ipairs(H.pgrep(marker)) do os.execute("kill -9 " .. pid .. " 2>/dev/null") end
end

-- Runs `args` in the background and kills every process whose command line names `dir`
-- (the engine, not its trainers) with SIGKILL after `secs`, unless it ended.
local function lines(path)
  local f = io.open(path)
  if not f then return 0 end
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  return n
end

local function run_and_kill(args, secs, dir)
  local journal = dir .. "/journal.jsonl"
  local before = lines(journal)
  H.spawn(args)
  -- from when this engine has written to the journal (the first run started, a resume
  -- replayed): a slow start (valgrind) is not what gets killed
  H.wait_for(function() return lines(journal) > before end, 60)
  H.sleep(secs)
  kill9(dir)
  H.sleep(0.05)
end

local function results(dir)
  local out, dups = {}, 0
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == "result" then
      local key = e.trial .. "/" .. e.result.training_iteration
      if out[key] then dups = dups + 1 end
      e.result.timestamp = nil -- wall clock
      out[key] = e.result
    end
  end
  return out, dups
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- Runs exp uninterrupted into ref, then into dir killed (SIGKILL) after `first` seconds and
-- resumed and killed again up to `kills` times (after `pause()` seconds each), then resumed
-- to the end. Returns ref and dir.
local function ref_and_killed(exp, seed, first, kills, pause)
  local ref, dir = H.tmpdir() .. "/ref", H.tmpdir() .. "/run"
  local r = H.run { exp, "--dir", ref, "--seed", seed, "--quiet" }
  assert.are.equal(0, r.code, H.describe(r))
  run_and_kill({ exp, "--dir", dir, "--seed", seed, "--quiet" }, first, dir)
  for _ = 1, kills do
    if H.exists(dir .. "/summary.json") and H.summary(dir).status == "done" then break end
    run_and_kill({ "resume", dir, "--quiet" }, pause(), dir)
  end
  r = H.run { "resume", dir, "--quiet" }
  assert.are.equal(0, r.code, H.describe(r))
  return ref, dir
end

-- a simulated experiment slow enough to be killed mid-way (a pure function of config and
-- iteration, so a resumed trial computes what it would have)
local sim_src = [[
local tune = require "tunelua"
return tune.experiment {
  name = "sim-kill",
  trainer = {
    simulate = function(c, it)
      local t0 = os.clock()
      while os.clock() - t0 < 0.0004 do end
      return { loss = 1 / (1 + c.lr * it) }
    end,
    iteration_time = function(c) return 1 + c.lr end,
  },
  config = { lr = tune.loguniform(0.01, 1) },
  num_samples = 40, metric = "loss", mode = "min", stop = { training_iteration = 50 },
}
]]

-- sim_src with 6 trials (and `extra` fields) and a scheduler that raises at a trial's 20th
-- result while the file `flag` exists: the run stops resumably (exit 1) until it is removed.
local function fragile_exp(flag, extra)
  return H.experiment((sim_src:gsub("num_samples = 40,", [[num_samples = 6,
  ]] .. extra .. [[
  scheduler = { name = "fragile", on_result = function(_, _, r)
    local f = io.open(]] .. H.lit(flag) .. [[)
    if f and r.training_iteration == 20 then f:close(); error("flaky scheduler") end
    if f then f:close() end
    return "continue"
  end },]])))
end

describe("e2e: resume after kill -9", function()
  teardown(H.cleanup)

  it("a simulation killed 20 times ends exactly as an uninterrupted one", function()
    math.randomseed(7)
    local ref, dir = ref_and_killed(H.experiment(sim_src), "9", 0.3, 20,
      function() return 0.05 + math.random() * 0.2 end)
    local want, got, dups = results(ref), results(dir)
    assert.are.equal(0, dups)
    assert.are.equal(2000, count(want))
    if H.wrap == "" then
      assert.are.same(want, got)
    else
      -- under valgrind (make check-valgrind) a restored running sum can differ in its last bit
      -- (valgrind's floating point is not bit-exact with the CPU's); compare to 1e-12
      for key, w in pairs(want) do
        local g = got[key]
        assert.is_table(g, key)
        for k, v in pairs(w) do
          if type(v) == "number" then
            assert.is_true(math.abs(v - g[k]) <= 1e-12 * math.max(1, math.abs(v)), key .. "." .. k)
          else
            assert.are.equal(v, g[k])
          end
        end
      end
    end
    local a, b = H.summary(ref), H.summary(dir)
    assert.are.equal(a.best_trial, b.best_trial)
    for i, t in ipairs(a.trials) do
      local u = b.trials[i]
      assert.are.equal(t.status, u.status)
      assert.are.equal(t.iterations, u.iterations)
      assert.are.same(t.config, u.config)
      assert.are.equal(t.last_result.loss, u.last_result.loss)
    end
    local resumes = H.count(H.journal(dir), function(e) return e.ev == "resumed" end)
    assert.is_true(resumes >= 2, "resumed " .. resumes .. " times")
  end)

  -- the schedulers whose state lives in counts and sets of trials (tunelua.trials), kept
  -- sorted windows (the median) or the rungs' open records, and the searchers whose state is
  -- kept rows (TPE's joint parameters in trial order) or ranked observations (BOHB's): a
  -- resume rebuilds them by replay
  for _, c in ipairs {
    { "asha promotion", "scheduler = tune.schedulers.asha { max_t = 27, grace_period = 1, "
      .. "reduction_factor = 3, promotion = true }" },
    { "median", "scheduler = tune.schedulers.median { time_attr = 'training_iteration', "
      .. "grace_period = 3, min_samples_required = 2 }" },
    { "pbt", "scheduler = tune.schedulers.pbt { time_attr = 'training_iteration', "
      .. "perturbation_interval = 4, hyperparam_mutations = { lr = tune.loguniform(0.01, 1) } }" },
    { "tpe", "searcher = tune.searchers.tpe { n_startup_trials = 5 }" },
    { "bohb and hyperband", "scheduler = tune.schedulers.hyperband { max_t = 27, "
      .. "reduction_factor = 3 }, searcher = tune.searchers.bohb { max_t = 27, "
      .. "reduction_factor = 3, min_points_in_model = 3 }" },
  } do
    it("a simulation with " .. c[1] .. " killed 6 times ends exactly as an uninterrupted one",
      function()
        local src = sim_src:gsub("num_samples = 40,", "num_samples = 40, max_concurrent = 4,")
          :gsub("training_iteration = 50", "training_iteration = 27")
          :gsub("0%.0004", "0.001") -- slower iterations: early stops leave fewer results
          :gsub("config = { lr = tune.loguniform%(0.01, 1%) }",
            "config = { lr = tune.loguniform(0.01, 1), act = tune.choice { 'a', 'b', 'c' } }")
          :gsub("}\n$", "  " .. c[2] .. ",\n}\n")
        math.randomseed(11)
        local ref, dir = ref_and_killed(H.experiment(src), "5", 0.05, 6,
          function() return 0.02 + math.random() * 0.05 end)
        local want, got, dups = results(ref), results(dir)
        assert.are.equal(0, dups)
        if H.wrap == "" then assert.are.same(want, got) end
        local a, b = H.summary(ref), H.summary(dir)
        assert.are.equal(a.best_trial, b.best_trial)
        for i, t in ipairs(a.trials) do
          assert.are.equal(t.status, b.trials[i].status, t.id)
          assert.are.equal(t.iterations, b.trials[i].iterations, t.id)
        end
        local resumes = H.count(H.journal(dir), function(e) return e.ev == "resumed" end)
        assert.is_true(resumes >= 2, "resumed " .. resumes .. " times")
      end)
  end

  it("real trainers: every acknowledged report is in the journal once, all trials end", function()
    local exp = H.experiment(H.exp_src {
      name = "kill-local",
      cmd = H.py_trainer("acked.py"),
      config = "{ step = tune.grid_search { 1, 2, 3, 4 }, sleep = 0.02 }",
      extra = '  stop = { training_iteration = 40 }, checkpoint = { every = 5 },',
    })
    local dir = H.tmpdir() .. "/run"
    run_and_kill({ exp, "--dir", dir, "--quiet" }, 0.8, dir)
    math.randomseed(11)
    for _ = 1, 6 do
      run_and_kill({ "resume", dir, "--quiet" }, 0.3 + math.random() * 0.4, dir)
    end
    local r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local got, dups = results(dir)
    assert.are.equal(0, dups)
    local s = H.summary(dir)
    for _, t in ipairs(s.trials) do
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(40, t.iterations)
      -- every report the trainer saw acknowledged is in the journal, with its value
      for line in io.lines(dir .. "/trials/" .. t.id .. "/acked.log") do
        local it, x = line:match("^(%d+) (%-?%d+)$")
        local res = got[t.id .. "/" .. it]
        assert.is_not_nil(res, "acknowledged but not journaled: " .. t.id .. "/" .. it)
        assert.are.equal(tonumber(x), res.x)
      end
      -- training_iteration runs 1..40 without a gap
      for it = 1, 40 do assert.is_not_nil(got[t.id .. "/" .. it]) end
      -- the trainer's state goes on from the last result, or after a restart from a recorded
      -- checkpoint (work since then is redone, while training_iteration keeps counting)
      local step, saved = t.config.step, { [0] = true } -- 0: started over, no checkpoint yet
      for _, e in ipairs(H.journal(dir)) do
        if e.ev == "checkpoint" and e.trial == t.id then
          saved[got[t.id .. "/" .. e.iteration].x] = true
        end
      end
      local prev = 0
      for it = 1, 40 do
        local x = got[t.id .. "/" .. it].x
        assert.is_true(x == prev + step or saved[x - step] == true,
          t.id .. " iteration " .. it .. ": x = " .. x .. " after " .. prev)
        prev = x
      end
    end
    assert.are.same({}, H.pgrep(H.trainers .. "/acked.py"))
  end)

  it("cuts a torn last line off the journal and goes on", function()
    local exp = H.experiment(sim_src)
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir, "--seed", "3", "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local f = assert(io.open(dir .. "/journal.jsonl", "a"))
    f:write('{"ev":"result","trial":"00001","resu')
    f:close()
    r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    assert.truthy(r.stderr:find("torn last line", 1, true), r.stderr)
    for _, e in ipairs(H.journal(dir)) do assert.is_string(e.ev) end
    assert.are.equal("done", H.summary(dir).status)
  end)

  it("a scheduler error stops the run resumably; after the fix it completes", function()
    local flag = H.write(H.tmpdir() .. "/broken", "yes")
    local exp = fragile_exp(flag, "")
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir, "--seed", "5", "--quiet" }
    assert.are.equal(1, r.code, H.describe(r))
    assert.truthy(r.stderr:find("flaky scheduler", 1, true))
    assert.truthy(r.stderr:find("stack traceback", 1, true))
    assert.are.equal("failed", H.summary(dir).status)
    os.remove(flag)
    r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(dir)
    assert.are.equal("done", s.status)
    for _, t in ipairs(s.trials) do
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(50, t.iterations)
    end
    local _, dups = results(dir)
    assert.are.equal(0, dups)
  end)

  -- A budget given by TUNELUA_BUDGET (what `tunelua compare --budget` hands each run) is
  -- journaled, so that `tunelua resume DIR/<label>` of a stopped run keeps it: the resumed
  -- run ends at the budget, not after every trial's 50 iterations.
  it("a TUNELUA_BUDGET run stopped by a scheduler error keeps its budget on resume", function()
    local flag = H.write(H.tmpdir() .. "/broken", "yes")
    local exp = fragile_exp(flag, "max_concurrent = 2,")
    local dir = H.tmpdir() .. "/run"
    local r = H.run({ exp, "--dir", dir, "--seed", "5", "--quiet" }, { env = {
      TUNELUA_BUDGET = "70" } })
    assert.are.equal(1, r.code, H.describe(r))
    os.remove(flag)
    r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local all = results(dir)
    local n = count(all)
    assert.is_true(n >= 70 and n <= 72, n) -- one more per running trial may come in
    assert.are.equal("done", H.summary(dir).status)
    assert.are.equal("70", H.journal(dir)[1].budget_given)
  end)

  -- An experiment without `name` is named after its file; a resume reads the copy
  -- DIR/experiment.lua, and must keep the name the run started with.
  it("keeps the name of an experiment named after its file", function()
    local flag = H.write(H.tmpdir() .. "/broken", "yes")
    local src = H.read(fragile_exp(flag, "")):gsub('name = "sim%-kill",', "")
    local exp = H.write(H.tmpdir() .. "/my-study.lua", src)
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir, "--seed", "5", "--quiet" }
    assert.are.equal(1, r.code, H.describe(r))
    assert.are.equal("my-study", H.summary(dir).name)
    os.remove(flag)
    r = H.run { "resume", dir }
    assert.are.equal(0, r.code, H.describe(r))
    assert.truthy(r.stdout:find("experiment my-study in ", 1, true), r.stdout)
    assert.are.equal("my-study", H.summary(dir).name)
  end)

  it("refuses a directory without a journal", function()
    local r = H.run { "resume", H.tmpdir() }
    assert.are.equal(2, r.code, H.describe(r))
    assert.truthy(r.stderr:find("nothing to resume", 1, true), r.stderr)
  end)
end)
