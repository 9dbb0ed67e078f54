-- End-to-end: a whole experiment run, what it writes, and how trials are scheduled.
local H = require "spec.e2e.helpers"

local engine_fields = { "trial_id", "training_iteration", "time_this_iter_s", "time_total_s",
  "timestamp" }

local function is_num(v) return type(v) == "number" end

-- The start time of each run of each trial, and the time it left RUNNING, from the journal.
local function intervals(journal)
  local out, open = {}, {}
  for _, ev in ipairs(journal) do
    if ev.ev == "started" then
      open[ev.trial] = ev.t
    elseif ev.ev == "status" and ev.status ~= "RUNNING" and open[ev.trial] then
      out[#out + 1] = { trial = ev.trial, from = open[ev.trial], to = ev.t }
      open[ev.trial] = nil
    end
  end
  return out
end

local function overlaps(iv)
  for i = 1, #iv do
    for j = i + 1, #iv do
      if iv[i].from < iv[j].to and iv[j].from < iv[i].to then return iv[i], iv[j] end
    end
  end
end

describe("e2e: a FIFO/random experiment", function()
  local r, dir, summary
  setup(function()
    local exp = H.experiment(H.exp_src {
      name = "e2e-run",
      cmd = H.sh_trainer("cfgsteps.sh", "5"),
      config = "{ x = tune.uniform(0, 1), tag = tune.choice { 'a', 'b' } }",
      extra = [[
  num_samples = 3, metric = "loss", mode = "min",
  stop = { training_iteration = 3 },
  scheduler = tune.schedulers.fifo {}, searcher = tune.searchers.random {},]],
    })
    dir = H.tmpdir() .. "/run"
    r = H.run { exp, "--dir", dir, "--seed", "7" }
    summary = H.summary(dir)
  end)
  teardown(H.cleanup)

  it("exits 0", function()
    assert.are.equal(0, r.code, H.describe(r))
  end)

  it("writes the experiment directory as DESIGN.md lays it out", function()
    local tree = H.tree(dir)
    local top = {}
    for path in pairs(tree) do
      if not path:find("/.", 1) then top[path] = true end
    end
    -- exactly these at the top (the engine's socket is gone once it has finished)
    assert.are.same({ ["experiment.lua"] = true, ["journal.jsonl"] = true,
      ["summary.json"] = true, ["trials/"] = true }, top)
    assert.are.equal(3, #summary.trials)
    for _, t in ipairs(summary.trials) do
      for _, f in ipairs { "progress.csv", "result.jsonl", "stdout.log", "stderr.log" } do
        assert.is_true(tree["trials/" .. t.id .. "/" .. f] ~= nil, "missing trials/" .. t.id
          .. "/" .. f)
      end
    end
    -- nothing but trial directories under trials/
    for path in pairs(tree) do
      local id = path:match("^trials/([^/]+)/$")
      if id then assert.is_truthy(H.trials_by_id(summary)[id], "stray " .. path) end
    end
  end)

  it("sends the trainer's stdout and stderr to the trial's logs", function()
    for _, t in ipairs(summary.trials) do
      local out = H.read(dir .. "/trials/" .. t.id .. "/stdout.log")
      local err = H.read(dir .. "/trials/" .. t.id .. "/stderr.log")
      assert.is_truthy(out:find("cfgsteps: trial " .. t.id, 1, true), out)
      assert.is_truthy(err:find("cfgsteps: a line on stderr", 1, true), err)
      assert.is_falsy(out:find("a line on stderr", 1, true), out)
    end
  end)

  it("copies the experiment file", function()
    local copy = H.read(dir .. "/experiment.lua")
    assert.is_truthy(copy and copy:find("e2e-run", 1, true))
    assert.is_truthy(copy:find("tune.uniform(0, 1)", 1, true))
  end)

  it("gives every result the engine fields, iterations 1..3 in order", function()
    for _, t in ipairs(summary.trials) do
      local results = H.jsonl(dir .. "/trials/" .. t.id .. "/result.jsonl")
      assert.are.equal(3, #results, "trial " .. t.id)
      local total = 0
      for i, res in ipairs(results) do
        for _, f in ipairs(engine_fields) do
          assert.is_not_nil(res[f], "trial " .. t.id .. " result " .. i .. " lacks " .. f)
        end
        assert.are.equal(t.id, res.trial_id)
        assert.are.equal(i, res.training_iteration)
        assert.is_true(is_num(res.time_this_iter_s) and res.time_this_iter_s >= 0)
        assert.is_true(res.time_total_s >= total)
        total = res.time_total_s
        assert.is_true(math.abs(res.timestamp - os.time()) < 600, "timestamp is Unix seconds")
        assert.is_true(is_num(res.loss))
        assert.are.equal(i, res.step)
      end
      assert.is_near(results[3].time_total_s, results[1].time_this_iter_s
        + results[2].time_this_iter_s + results[3].time_this_iter_s, 1e-6)
    end
  end)

  it("writes progress.csv: the union of keys as header, one row per result", function()
    for _, t in ipairs(summary.trials) do
      local rows = H.csv(dir .. "/trials/" .. t.id .. "/progress.csv")
      local results = H.jsonl(dir .. "/trials/" .. t.id .. "/result.jsonl")
      assert.are.equal(#results + 1, #rows)
      local header, keys = rows[1], {}
      for _, k in ipairs(header) do keys[k] = true end
      local union = {}
      for _, res in ipairs(results) do
        for k in pairs(res) do union[k] = true end
      end
      assert.are.same(union, keys)
      assert.are.equal(#header, H.count(header, function() return true end))
      for i = 2, #rows do
        assert.are.equal(#header, #rows[i])
        local row = {}
        for c, k in ipairs(header) do row[k] = rows[i][c] end
        assert.are.equal(i - 1, tonumber(row.training_iteration))
        assert.is_near(results[i - 1].loss, tonumber(row.loss), 1e-9)
        assert.are.equal(t.id, row.trial_id)
      end
    end
  end)

  it("writes summary.json to the schema", function()
    assert.are.equal("e2e-run", summary.name)
    assert.are.equal("loss", summary.metric)
    assert.are.equal("min", summary.mode)
    assert.are.equal("done", summary.status)
    assert.are.equal("string", type(summary.best_trial))
    local seen = {}
    for _, t in ipairs(summary.trials) do
      assert.are.equal("string", type(t.id))
      assert.is_nil(seen[t.id], "duplicate id " .. t.id)
      seen[t.id] = true
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal("table", type(t.config))
      assert.is_true(t.config.x >= 0 and t.config.x < 1)
      assert.is_truthy(t.config.tag == "a" or t.config.tag == "b")
      assert.are.equal(3, t.iterations)
      assert.are.equal(0, t.failures)
      assert.are.equal(3, t.last_result.training_iteration)
      assert.are.equal(t.id, t.last_result.trial_id)
      assert.are.equal("table", type(t.best_result))
      assert.are.equal(H.null, t.error)
      assert.are.equal("trials/" .. t.id, t.dir)
      -- loss = x + 1/step falls, so the best (min) result is the last one
      assert.are.equal(3, t.best_result.training_iteration)
      assert.is_near(t.config.x + 1 / 3, t.last_result.loss, 1e-4)
    end
  end)

  it("names the trial with the best last metric as best_trial", function()
    local best
    for _, t in ipairs(summary.trials) do
      if not best or t.last_result.loss < best.last_result.loss then best = t end
    end
    assert.are.equal(best.id, summary.best_trial)
  end)

  it("journals JSON objects with ev and trial, one result line per result", function()
    local journal = H.journal(dir)
    assert.is_true(#journal > 0)
    local results, evs = {}, {}
    for _, ev in ipairs(journal) do
      assert.are.equal("string", type(ev.ev))
      evs[ev.ev] = true
      if not ev.ev:match("^experiment") then
        assert.are.equal("string", type(ev.trial), "journal event " .. ev.ev .. " has no trial")
      end
      if ev.ev == "result" then
        assert.are.equal(ev.trial, ev.result.trial_id)
        local key = ev.trial .. "/" .. ev.result.training_iteration
        assert.is_nil(results[key], "result journaled twice: " .. key)
        results[key] = ev.result
      end
    end
    for _, t in ipairs(summary.trials) do
      for i, res in ipairs(H.jsonl(dir .. "/trials/" .. t.id .. "/result.jsonl")) do
        assert.are.same(res, results[t.id .. "/" .. i])
      end
    end
    local n = 0
    for _ in pairs(results) do n = n + 1 end
    assert.are.equal(9, n)
    assert.is_true(evs.started and evs.status and evs.trial_added and true or false)
  end)
end)

describe("e2e: trial generation", function()
  teardown(H.cleanup)

  local function grid_exp()
    return H.experiment(H.exp_src {
      name = "e2e-grid",
      cmd = H.sh_trainer("steps.sh", "1"),
      config = "{ g = tune.grid_search { 10, 20, 30 }, x = tune.uniform(0, 1), "
        .. "lr = tune.loguniform(1e-4, 1e-1) }",
      extra = "  num_samples = 2,",
    })
  end

  it("makes grid values x num_samples trials, each grid value num_samples times", function()
    local exp = grid_exp()
    local dir = H.tmpdir() .. "/grid"
    local r = H.run { exp, "--dir", dir, "--cpus", "6" }
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(dir)
    assert.are.equal(6, #s.trials)
    for _, g in ipairs { 10, 20, 30 } do
      assert.are.equal(2, #H.trials_where(s, "g", g), "grid value " .. g)
    end
  end)

  local function configs(dir)
    local out = {}
    for _, t in ipairs(H.summary(dir).trials) do out[t.id] = t.config end
    return out
  end

  it("samples the same configs with the same --seed, others with another", function()
    local exp = grid_exp()
    local base = H.tmpdir()
    local runs = {}
    for i, seed in ipairs { "11", "11", "12" } do
      local dir = base .. "/s" .. i
      local r = H.run { exp, "--dir", dir, "--seed", seed, "--cpus", "6" }
      assert.are.equal(0, r.code, H.describe(r))
      runs[i] = configs(dir)
    end
    assert.are.same(runs[1], runs[2])
    assert.are.not_same(runs[1], runs[3])
    local differ = 0
    for id, c in pairs(runs[1]) do
      if runs[3][id] and c.x ~= runs[3][id].x then differ = differ + 1 end
    end
    assert.is_true(differ >= 5, "another seed changes the sampled values")
  end)
end)

describe("e2e: stopping", function()
  teardown(H.cleanup)

  it("takes stop as a Lua function(trial, result)", function()
    -- loss = 0 + 1/step: below 0.3 first at step 4
    local exp = H.experiment(H.exp_src {
      name = "e2e-stopfn",
      cmd = H.sh_trainer("cfgsteps.sh", "10"),
      extra = [[
  num_samples = 2, metric = "loss", mode = "min",
  stop = function(trial, result)
    assert(type(trial) == "table" or type(trial) == "userdata", "trial view")
    return result.loss < 0.3
  end,]],
    })
    local dir = H.tmpdir() .. "/stopfn"
    local r = H.run { exp, "--dir", dir }
    assert.are.equal(0, r.code, H.describe(r))
    for _, t in ipairs(H.summary(dir).trials) do
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(4, t.iterations)
      assert.is_near(0.25, t.last_result.loss, 1e-9)
    end
  end)

  it("ends a trainer that exits 0 by itself TERMINATED with its report count", function()
    local exp = H.experiment(H.exp_src {
      name = "e2e-selfexit",
      cmd = H.sh_trainer("cfgsteps.sh", "4"),
      extra = [[  num_samples = 2, metric = "loss", mode = "min",
  stop = { training_iteration = 100 },]],
    })
    local dir = H.tmpdir() .. "/selfexit"
    local r = H.run { exp, "--dir", dir }
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(dir)
    assert.are.equal("done", s.status)
    for _, t in ipairs(s.trials) do
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(4, t.iterations)
      assert.are.equal(0, t.failures)
      assert.are.equal(H.null, t.error)
    end
  end)
end)

describe("e2e: concurrency", function()
  teardown(H.cleanup)

  local function sequential(extra, args)
    local base = H.tmpdir()
    local lock = base .. "/lock"
    local exp = H.experiment(H.exp_src {
      name = "e2e-seq",
      cmd = H.sh_trainer("cfgsteps.sh", "2", "0.1", lock),
      trainer_extra = extra.trainer,
      extra = "  num_samples = 3," .. (extra.exp or ""),
    })
    local dir = base .. "/run"
    local cmd = { exp, "--dir", dir }
    for _, a in ipairs(args) do cmd[#cmd + 1] = a end
    local r = H.run(cmd)
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(dir)
    assert.are.equal(3, #s.trials)
    for _, t in ipairs(s.trials) do assert.are.equal("TERMINATED", t.status) end
    assert.is_false(H.exists(lock .. ".overlap"), "two trials held the lock at once: "
      .. tostring(H.read(lock .. ".overlap")))
    local iv = intervals(H.journal(dir))
    assert.are.equal(3, #iv)
    local a, b = overlaps(iv)
    assert.is_nil(a, a and ("trials " .. a.trial .. " and " .. b.trial .. " overlap"))
  end

  it("runs one trial at a time with max_concurrent = 1", function()
    sequential({ exp = " max_concurrent = 1," }, { "--cpus", "4" })
  end)

  it("runs one trial at a time with --max-concurrent 1", function()
    sequential({}, { "--cpus", "4", "--max-concurrent", "1" })
  end)

  it("runs one trial at a time when each takes cpu = 2 of --cpus 2", function()
    sequential({ trainer = "resources = { cpu = 2 }" }, { "--cpus", "2" })
  end)

  it("does run trials side by side when resources allow (the check can fail)", function()
    local base = H.tmpdir()
    local exp = H.experiment(H.exp_src {
      name = "e2e-par",
      cmd = H.sh_trainer("cfgsteps.sh", "3", "0.2"),
      extra = "  num_samples = 2,",
    })
    local dir = base .. "/run"
    local r = H.run { exp, "--dir", dir, "--cpus", "2" }
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_not_nil(overlaps(intervals(H.journal(dir))))
  end)
end)
