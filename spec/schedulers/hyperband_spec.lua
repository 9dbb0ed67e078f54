-- Synchronous HyperBand: the bracket table against the paper, the object driven with fake
-- views and scripted results, and whole runs of the tunelua binary under `simulate`.
local hyperband = require "schedulers.hyperband"
local H = require "spec.e2e.helpers"

-- A fake trial view, as the runner makes them.
local function view(index, config)
  return { id = string.format("%05d", index - 1), index = index, config = config or {},
    status = "PENDING", iteration = 0 }
end

-- A scheduler already set up on a hand-made experiment context.
local function make(opts, exp)
  local s = hyperband(opts)
  exp = exp or {}
  exp.metric = exp.metric or "loss"
  exp.mode = exp.mode or "min"
  exp.trials = exp.trials or {}
  s:setup(exp)
  return s, exp
end

-- Adds n trials with the given losses (a list) and returns their views.
local function add(s, exp, losses)
  local out = {}
  for _, loss in ipairs(losses) do
    local v = view(#exp.trials + 1, { loss = loss })
    exp.trials[v.index] = v
    s:on_trial_add(v)
    out[#out + 1] = v
  end
  return out
end

-- One result for trial v at iteration `it`; applies the decision to the view like the engine.
local status_after = { continue = "RUNNING", pause = "PAUSED", stop = "TERMINATED" }
local function report(s, v, it, fields)
  local r = { training_iteration = it, loss = v.config.loss }
  for k, x in pairs(fields or {}) do r[k] = x end
  v.status, v.iteration = "RUNNING", it
  local d = s:on_result(v, r)
  v.status = status_after[d]
  return d
end

-- The indexes of views whose where().state is `state`.
local function in_state(s, views, state)
  local out = {}
  for _, v in ipairs(views) do
    if s:where(v).state == state then out[#out + 1] = v.index end
  end
  return out
end

-- A small engine for unit runs: at most `c` trials run at once; a free slot asks the scheduler,
-- and only when it has nothing does a new trial come "from the searcher" (configs[k]); running
-- trials take one iteration each in turn. curve(config, it) is the result. Returns the views
-- and the number of results.
local function drive(s, exp, configs, curve, c)
  local queue, added, results = {}, 0, 0
  while true do
    while #queue < c do
      local t = s:choose_trial_to_run()
      if not t and added < #configs then
        added = added + 1
        local v = view(added, configs[added])
        exp.trials[added] = v
        s:on_trial_add(v)
        t = s:choose_trial_to_run()
      end
      if not t then break end
      assert(t.status == "PENDING" or t.status == "PAUSED", "chose a " .. t.status .. " trial")
      t.status = "RUNNING"
      queue[#queue + 1] = t
    end
    if #queue == 0 then break end
    local t = table.remove(queue, 1)
    local it = t.iteration + 1
    local r = curve(t.config, it)
    r.training_iteration = it
    t.iteration = it
    results = results + 1
    local d = s:on_result(t, r)
    if d == "continue" then
      queue[#queue + 1] = t
    else
      t.status = status_after[d]
      if d == "stop" then s:on_trial_complete(t, r) end
    end
  end
  return exp.trials, results
end

-- The paper's Table 1 (max_t = R = 81, eta = 3), one list of { n_i, r_i } per bracket.
local TABLE1 = {
  { s = 4, n = 81, r = 1, rungs = { { 81, 1 }, { 27, 3 }, { 9, 9 }, { 3, 27 }, { 1, 81 } } },
  { s = 3, n = 34, r = 3, rungs = { { 34, 3 }, { 11, 9 }, { 3, 27 }, { 1, 81 } } },
  { s = 2, n = 15, r = 9, rungs = { { 15, 9 }, { 5, 27 }, { 1, 81 } } },
  { s = 1, n = 8, r = 27, rungs = { { 8, 27 }, { 2, 81 } } },
  { s = 0, n = 5, r = 81, rungs = { { 5, 81 } } },
}

-- Brackets as plain lists, to compare with TABLE1.
local function plain(brackets)
  local out = {}
  for k, b in ipairs(brackets) do
    local rungs = {}
    for i, g in ipairs(b.rungs) do rungs[i] = { g.n, g.r } end
    out[k] = { s = b.s, n = b.n, r = b.r, rungs = rungs }
  end
  return out
end

-- Trial-iterations of a full band when paused trials resume (rung i costs n_i (r_i - r_{i-1})).
local function band_budget(max_t, eta)
  local total = 0
  for _, b in ipairs(hyperband.brackets(max_t, eta)) do
    local prev = 0
    for _, g in ipairs(b.rungs) do
      total = total + g.n * (g.r - prev)
      prev = g.r
    end
  end
  return total
end

describe("hyperband.brackets", function()
  it("is the paper's Table 1 for max_t = 81, eta = 3", function()
    assert.same(TABLE1, plain(hyperband.brackets(81, 3)))
    assert.same(TABLE1, plain(hyperband.brackets()))
  end)

  it("has floor(log_eta(max_t)) + 1 brackets and ends every bracket at max_t", function()
    assert.same({
      { s = 2, n = 9, r = 1, rungs = { { 9, 1 }, { 3, 3 }, { 1, 9 } } },
      { s = 1, n = 5, r = 3, rungs = { { 5, 3 }, { 1, 9 } } },
      { s = 0, n = 3, r = 9, rungs = { { 3, 9 } } },
    }, plain(hyperband.brackets(9, 3)))
    assert.same({ { s = 0, n = 1, r = 2, rungs = { { 1, 2 } } } }, plain(hyperband.brackets(2, 3)))
    local b = hyperband.brackets(100, 3) -- not a power of eta: r_i = 100 / 3^(s-i)
    assert.equal(5, #b)
    assert.equal(100 / 81, b[1].r)
    for _, x in ipairs(b) do assert.equal(100, x.rungs[#x.rungs].r) end
    assert.same({ 6, 5, 4, 3, 2, 1, 0 }, (function()
      local out = {}
      for i, x in ipairs(hyperband.brackets(64, 2)) do out[i] = x.s end
      return out
    end)())
  end)

  it("adds up to the band budget used by the end-to-end run", function()
    assert.equal(1581, band_budget(81, 3))
  end)
end)

describe("hyperband options", function()
  local function err(opts)
    local ok, e = pcall(hyperband, opts)
    assert.is_false(ok)
    return e
  end

  it("has Ray Tune's defaults and takes nil", function()
    local s = hyperband()
    assert.equal("hyperband", s.name)
    assert.equal("training_iteration", s.time_attr)
    assert.equal(81, s.max_t)
    assert.equal(3, s.eta)
    assert.is_true(s.stop_last_trials)
    assert.is_false(hyperband { stop_last_trials = false }.stop_last_trials)
  end)

  it("rejects wrong values and unknown options by name", function()
    assert.matches("hyperband: reduction_factor must be a number > 1, got 1",
      err { reduction_factor = 1 }, 1, true)
    assert.matches("reduction_factor must be a number > 1, got 0.5", err { reduction_factor = 0.5 },
      1, true)
    assert.matches("max_t must be a number >= 1, got 0", err { max_t = 0 }, 1, true)
    assert.matches('max_t must be a number >= 1, got "81"', err { max_t = "81" }, 1, true)
    assert.matches("max_t must be a number >= 1, got nan", err { max_t = 0 / 0 }, 1, true)
    assert.matches("unknown option 'grace_period' (accepted: max_t, metric, mode, " ..
      "reduction_factor, stop_last_trials, time_attr)", err { grace_period = 1 }, 1, true)
    assert.matches("time_attr must be the name of a result field, got 3", err { time_attr = 3 },
      1, true)
    assert.matches('mode must be "max" or "min", got "up"', err { mode = "up" }, 1, true)
    assert.matches("metric must be a string, got 4", err { metric = 4 }, 1, true)
    assert.matches("stop_last_trials must be a boolean, got 1", err { stop_last_trials = 1 }, 1,
      true)
    assert.matches("options must be a table, got number", err(3), 1, true)
  end)

  it("needs a metric and mode from the experiment or its options", function()
    local ok, e = pcall(function() hyperband():setup({ trials = {} }) end)
    assert.is_false(ok)
    assert.matches("hyperband: needs a metric and a mode", e, 1, true)
    local s = hyperband { metric = "acc", mode = "max" }
    s:setup({ metric = "loss", mode = "min", trials = {} })
    assert.equal("acc", s.metric)
    assert.equal("max", s.mode)
  end)
end)

describe("hyperband scheduling", function()
  -- max_t = 9, eta = 3: brackets (9 at 1, 3 at 3, 1 at 9), (5 at 3, 1 at 9), (3 at 9).
  local losses = { 0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4 }

  it("pauses at the rung until the bracket's last trial reports, then keeps the best third",
    function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, losses)
    for i = 1, 8 do assert.equal("pause", report(s, v[i], 1)) end
    assert.same({}, in_state(s, v, "lost"))
    -- trial 9 (loss 0.4) completes rung 1: the best 3 are trials 3, 7, 5; it lost
    assert.equal("stop", report(s, v[9], 1))
    assert.same({ 3, 5, 7 }, in_state(s, v, "run"))
    assert.same({ 1, 2, 4, 6, 8, 9 }, in_state(s, v, "lost"))
    assert.equal(1, s:where(v[2]).lost_at)
    assert.equal(2, s:where(v[3]).rung)
    assert.equal(3, s:where(v[3]).r)
    -- the promoted ones resume in the order they were added; the losers never again
    local order = {}
    for _ = 1, 3 do
      local t = s:choose_trial_to_run()
      order[#order + 1] = t.index
      t.status = "RUNNING"
    end
    assert.same({ 3, 5, 7 }, order)
    assert.is_nil(s:choose_trial_to_run())
    -- rung 2 at r = 3: the best one goes on to 9, where it is stopped
    for _, i in ipairs { 3, 5, 7 } do assert.equal("continue", report(s, v[i], 2)) end
    assert.equal("pause", report(s, v[5], 3))
    assert.equal("pause", report(s, v[7], 3))
    assert.equal("continue", report(s, v[3], 3))
    assert.same({ 3 }, in_state(s, v, "run"))
    assert.same({ 3, 3 }, { s:where(v[5]).lost_at, s:where(v[7]).lost_at })
    for it = 4, 8 do assert.equal("continue", report(s, v[3], it)) end
    assert.equal("stop", report(s, v[3], 9))
    assert.equal("done", s:where(v[3]).state)
  end)

  it("continues the trial that completes a rung when it wins", function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, losses)
    for i = 1, 9 do
      if i ~= 3 then report(s, v[i], 1) end
    end
    assert.equal("continue", report(s, v[3], 1))
    assert.same({ 3, 5, 7 }, in_state(s, v, "run"))
  end)

  it("keeps the highest with mode max", function()
    local s, exp = make({ max_t = 9 }, { metric = "loss", mode = "max" })
    local v = add(s, exp, losses)
    for i = 1, 9 do report(s, v[i], 1) end
    assert.same({ 2, 4, 6 }, in_state(s, v, "run"))
    local s2, exp2 = make({ max_t = 9, metric = "acc", mode = "max" })
    local w = add(s2, exp2, losses)
    for i = 1, 9 do report(s2, w[i], 1, { acc = -w[i].config.loss }) end
    assert.same({ 3, 5, 7 }, in_state(s2, w, "run"))
  end)

  it("breaks ties by the order trials were added and ranks NaN last", function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, { 1, 1, 0 / 0, 1, 0 / 0, 0 / 0, 1, 1, 0 / 0 })
    for i = 9, 1, -1 do report(s, v[i], 1) end
    assert.same({ 1, 2, 4 }, in_state(s, v, "run"))
  end)

  it("fills brackets in order: s_max first, then down to 0, then a new band", function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, (function()
      local l = {}
      for i = 1, 9 + 5 + 3 + 2 do l[i] = i end
      return l
    end)())
    local got = {}
    for i, x in ipairs(v) do got[i] = s:where(x).s * 10 + s:where(x).bracket end
    assert.same({ 21, 21, 21, 21, 21, 21, 21, 21, 21, 12, 12, 12, 12, 12, 3, 3, 3, 24, 24 }, got)
    assert.equal(3, s:where(v[10]).r)
    assert.equal(9, s:where(v[15]).r)
  end)

  it("lets a trial that ends early (complete or error) complete the rung", function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, losses)
    for i = 1, 9 do
      if i ~= 3 and i ~= 6 then report(s, v[i], 1) end
    end
    s:on_trial_error(v[3])
    assert.same({}, in_state(s, v, "lost"))
    s:on_trial_complete(v[6], { loss = 0.8 })
    -- 7 reported; the best 3 of them still go on
    assert.same({ 5, 7, 9 }, in_state(s, v, "run"))
    assert.same({ 3, 6 }, in_state(s, v, "done"))
    assert.same({ 1, 2, 4, 8 }, in_state(s, v, "lost"))
    assert.equal(v[5], s:choose_trial_to_run())
  end)

  it("promotes no more than are left alive", function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, losses)
    report(s, v[1], 1)
    report(s, v[2], 1)
    for i = 3, 9 do s:on_trial_error(v[i]) end
    assert.same({ 1, 2 }, in_state(s, v, "run")) -- wanted 3, two were left
  end)

  it("closes the last bracket at the trial count of the experiment (num_samples x grid)",
    function()
    -- 4 trials: the 9-trial bracket closes at 4 with rungs 4 at 1, 1 at 3, 1 at 9
    local s, exp = make({ max_t = 9 }, { space = {}, num_samples = 4 })
    local trials, results = drive(s, exp, { { loss = 0.4 }, { loss = 0.1 }, { loss = 0.3 },
      { loss = 0.2 } }, function(c) return { loss = c.loss } end, 2)
    local it = {}
    for i, t in ipairs(trials) do it[i] = t.iteration end
    assert.same({ 1, 9, 1, 1 }, it)
    assert.equal(12, results)
    assert.equal("TERMINATED", trials[2].status)
  end)

  it("closes the newest bracket when the searcher is exhausted", function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, { 0.3, 0.1, 0.2, 0.4, 0.5 })
    for i = 1, 5 do assert.equal("pause", report(s, v[i], 1)) end
    assert.same({}, in_state(s, v, "run"))
    s:on_searcher_exhausted()
    assert.same({ 2 }, in_state(s, v, "run"))
    assert.same({ 1, 3, 4, 5 }, in_state(s, v, "lost"))
    assert.equal(v[2], s:choose_trial_to_run())
  end)

  it("lets the last trials run on with stop_last_trials = false", function()
    local s, exp = make { max_t = 3, stop_last_trials = false }
    local v = add(s, exp, { 0.3, 0.1, 0.2 }) -- max_t 3: bracket s=1 (3 at 1, 1 at 3)
    for i = 1, 3 do report(s, v[i], 1) end
    assert.same({ 2 }, in_state(s, v, "run"))
    for it = 2, 10 do assert.equal("continue", report(s, v[2], it)) end
  end)

  it("counts a trial whose time is already past the next rung as having reached it", function()
    local s, exp = make { max_t = 9, time_attr = "time_total_s" }
    local v = add(s, exp, losses)
    for i = 1, 9 do
      -- trial 3 reports late, at t = 4.5, past the next rung's budget of 3
      report(s, v[i], 1, { time_total_s = i == 3 and 4.5 or 1.5 })
    end
    assert.same({ 5, 7 }, in_state(s, v, "run"))
    assert.equal("wait", s:where(v[3]).state)
    assert.equal(v[5], s:choose_trial_to_run())
    assert.equal("continue", report(s, v[5], 2, { time_total_s = 2.9 }))
    assert.equal("pause", report(s, v[5], 3, { time_total_s = 3 }))
    -- trial 7 completes rung 2 (r = 3): trial 3 (loss 0.1) goes on to 9, 5 and 7 lose
    assert.equal("stop", report(s, v[7], 2, { time_total_s = 3.5 }))
    assert.same({ 3 }, in_state(s, v, "run"))
    assert.same({ 3, 3 }, { s:where(v[5]).lost_at, s:where(v[7]).lost_at })
  end)

  it("names the missing field of a result", function()
    local s, exp = make { max_t = 9 }
    local v = add(s, exp, { 1 })
    local ok, e = pcall(s.on_result, s, v[1], { loss = 1 })
    assert.is_false(ok)
    assert.matches("trial 00000 has no number 'training_iteration' (time_attr)", e, 1, true)
    ok, e = pcall(s.on_result, s, v[1], { training_iteration = 1 })
    assert.is_false(ok)
    assert.matches("has no number 'loss' (the metric)", e, 1, true)
  end)

  it("runs a whole band: each bracket keeps its top n_i by loss, within the band budget",
    function()
    local configs = {}
    for i = 1, 143 do configs[i] = { x = ((i * 37) % 143) / 143 } end -- a fixed permutation
    local s, exp = make { max_t = 81 }
    local trials, results = drive(s, exp, configs,
      function(c, it) return { loss = c.x + 1 / it } end, 8)
    assert.equal(1581, results)
    local first = 1
    for _, b in ipairs(hyperband.brackets(81, 3)) do
      local members = {}
      for i = first, first + b.n - 1 do members[#members + 1] = trials[i] end
      first = first + b.n
      table.sort(members, function(p, q) return p.config.x < q.config.x end)
      for pos, t in ipairs(members) do
        local want
        for _, g in ipairs(b.rungs) do
          if pos <= g.n then want = g.r end
        end
        assert.equal(want, t.iteration)
        if want == 81 then assert.equal("TERMINATED", t.status) end
      end
    end
  end)
end)

describe("hyperband end to end (tunelua --executor simulate)", function()
  after_each(H.cleanup)

  local function src(o)
    return table.concat({
      'local tune = require "tunelua"',
      "return tune.experiment {",
      "  trainer = { simulate = " .. o.simulate .. ", iteration_time = 1 },",
      "  config = { x = tune.uniform(0, 1) },",
      "  num_samples = " .. o.num_samples .. ", metric = " .. H.lit(o.metric) .. ", mode = "
        .. H.lit(o.mode) .. ",",
      o.stop and ("  stop = " .. o.stop .. ",") or "",
      "  scheduler = tune.schedulers.hyperband " .. o.scheduler .. ",",
      "}",
      "",
    }, "\n")
  end

  local function run(o)
    local path = H.experiment(src(o))
    local dir = H.tmpdir() .. "/run"
    local r = H.run { path, "--dir", dir, "--seed", "1", "--quiet", "--cpus", "8" }
    assert.equal(0, r.code, H.describe(r))
    return H.summary(dir), H.journal(dir)
  end

  -- For each bracket (trials in the order they were added), sorted best first by `better`:
  -- the iterations each trial should end with (the budget of the last rung its rank reached).
  local function expected(summary, max_t, eta, better)
    local first, want = 1, {}
    for _, b in ipairs(hyperband.brackets(max_t, eta)) do
      local members = {}
      for i = first, math.min(first + b.n - 1, #summary.trials) do
        members[#members + 1] = summary.trials[i]
      end
      first = first + b.n
      table.sort(members, better)
      for pos, t in ipairs(members) do
        for _, g in ipairs(b.rungs) do
          if pos <= g.n then want[t.id] = g.r end
        end
      end
    end
    return want
  end

  local function ended(summary)
    local got = {}
    for _, t in ipairs(summary.trials) do got[t.id] = t.iterations end
    return got
  end

  it("promotes and stops the exact sets of Table 1 and spends the band budget (min)", function()
    local summary, journal = run {
      simulate = "function(c, it) return { loss = c.x + 1 / it } end",
      num_samples = 143, metric = "loss", mode = "min", stop = "{ training_iteration = 81 }",
      scheduler = "{ max_t = 81, reduction_factor = 3 }",
    }
    assert.equal("done", summary.status)
    assert.equal(143, #summary.trials)
    local want = expected(summary, 81, 3, function(p, q) return p.config.x < q.config.x end)
    assert.same(want, ended(summary))
    -- 1581 trial-iterations: every result is one, losers never run again
    assert.equal(1581, H.count(journal, function(e) return e.ev == "result" end))
    local at = {}
    for _, t in ipairs(summary.trials) do
      -- losers end too: paused ones through exp.stop_trial
      assert.equal("TERMINATED", t.status)
      at[t.iterations] = (at[t.iterations] or 0) + 1
    end
    -- losers by rung: 54 at 1, 18 + 23 at 3, 6 + 8 + 10 at 9, 2 + 2 + 4 + 6 at 27, 10 finish
    assert.same({ [1] = 54, [3] = 41, [9] = 24, [27] = 14, [81] = 10 }, at)
    -- every pause is the scheduler's, at a rung budget
    local rung = { [1] = true, [3] = true, [9] = true, [27] = true }
    for _, e in ipairs(journal) do
      if e.ev == "decision" and e.action == "pause" then
        assert.is_true(rung[e.iteration], "pause at " .. tostring(e.iteration))
      end
    end
  end)

  it("ranks by the result at each rung (max), stops at max_t by itself", function()
    -- acc favours large x at the first rung and small x after it; no stop rule
    local summary, journal = run {
      simulate = "function(c, it) return { acc = it <= 1 and c.x or 1 - c.x } end",
      num_samples = 17, metric = "acc", mode = "max", scheduler = "{ max_t = 9 }",
    }
    -- bracket 1 (9 trials): best 3 by x at rung 1, then the smallest x of those at 3
    local b1 = {}
    for i = 1, 9 do b1[i] = summary.trials[i] end
    table.sort(b1, function(p, q) return p.config.x > q.config.x end)
    local got = ended(summary)
    for pos, t in ipairs(b1) do
      local top3 = { b1[1], b1[2], b1[3] }
      table.sort(top3, function(p, q) return p.config.x < q.config.x end)
      local want = pos > 3 and 1 or (t == top3[1] and 9 or 3)
      assert.equal(want, got[t.id], "trial " .. t.id)
    end
    -- bracket 2 (5 trials from 3): the best 1 by 1 - x; bracket 3 (3 trials): all to 9
    local b2 = {}
    for i = 10, 14 do b2[#b2 + 1] = summary.trials[i] end
    table.sort(b2, function(p, q) return p.config.x < q.config.x end)
    for pos, t in ipairs(b2) do assert.equal(pos == 1 and 9 or 3, got[t.id]) end
    for i = 15, 17 do assert.equal(9, summary.trials[i].iterations) end
    local stops = H.count(journal, function(e)
      return e.ev == "decision" and e.action == "stop" and e.by == "scheduler" and e.iteration == 9
    end)
    assert.equal(5, stops)
    assert.equal(9 + 3 * 2 + 6 + 5 * 3 + 6 + 3 * 9, H.count(journal, function(e)
      return e.ev == "result"
    end))
  end)

  it("looks for the next trial to run past the brackets that are over", function()
    -- each bracket's `live` counts its reads; a choice that walked every bracket of the run
    -- would read it (brackets over) * (choices) times: about 1,000,000 here
    local reads, live = 0, setmetatable({}, { __mode = "k" })
    local counted = {
      __index = function(b, k) if k == "live" then reads = reads + 1 return live[b] end end,
      __newindex = function(b, k, x) if k == "live" then live[b] = x else rawset(b, k, x) end end,
    }
    local S = require "spec.schedulers.helpers"
    local s = hyperband { max_t = 9, reduction_factor = 3 }
    local cfgs = {}
    for i = 1, 3000 do cfgs[i] = { x = i % 17 } end
    local add_trial = s.on_trial_add
    s.on_trial_add = function(self, v) -- count from each bracket's birth
      local n = #(self.brackets or {})
      add_trial(self, v)
      local b = self.brackets[#self.brackets]
      if #self.brackets > n then
        live[b], b.live = b.live, nil
        setmetatable(b, counted)
      end
    end
    local exp = S.harness(s, cfgs, "loss", "min")
    S.drive(s, exp, "loss", function(t, it) return t.config.x / it end, 9)
    assert.is_true(#s.brackets > 300, #s.brackets .. " brackets")
    assert.is_true(reads < 40 * #cfgs, reads .. " reads of live for " .. #cfgs .. " trials")
  end)

  it("closes a bracket that num_samples cannot fill", function()
    local summary = run {
      simulate = "function(c) return { loss = c.x } end",
      num_samples = 20, metric = "loss", mode = "min", scheduler = "{}",
    }
    -- one bracket s = 4 of 20: rungs 20 at 1, 6 at 3, 2 at 9, 1 at 27, 1 at 81
    local sorted = {}
    for i, t in ipairs(summary.trials) do sorted[i] = t end
    table.sort(sorted, function(p, q) return p.config.x < q.config.x end)
    local want = { 81, 9, 3, 3, 3, 3 }
    for pos, t in ipairs(sorted) do assert.equal(want[pos] or 1, t.iterations) end
  end)

  it("exits 2 naming the option and the experiment's line for bad options", function()
    for opt, msg in pairs {
      ["reduction_factor = 1"] = "reduction_factor must be a number > 1, got 1",
      ["max_t = 0.5"] = "max_t must be a number >= 1, got 0.5",
      ["max_t = '81'"] = 'max_t must be a number >= 1, got "81"',
      ["grace_period = 2"] = "unknown option 'grace_period'",
    } do
      local path = H.experiment(src {
        simulate = "function(c) return { loss = c.x } end", num_samples = 2, metric = "loss",
        mode = "min", scheduler = "{ " .. opt .. " }",
      })
      local r = H.run { path, "--dir", H.tmpdir() .. "/run", "--quiet" }
      assert.equal(2, r.code, H.describe(r))
      assert.matches(path .. ":7: hyperband: " .. msg, r.stderr, 1, true)
    end
  end)
end)
