-- End-to-end: `tunelua plot DIR` writes one self-contained HTML report, and headless
-- Chromium renders it without a script error, with one curve per trial that has results.
local H = require "spec.e2e.helpers"
local B = require "spec.e2e.browser"

-- A simulated experiment (virtual clock, instant) from the pieces given.
local function sim(o)
  return H.experiment(table.concat({
    'local tune = require "tunelua"',
    "return tune.experiment {",
    "  name = " .. H.lit(o.name) .. ",",
    "  trainer = { simulate = " .. o.fn .. ", iteration_time = 1 },",
    "  config = " .. (o.config or "{ lr = tune.loguniform(1e-4, 1), opt = tune.choice { 1, 2 } }")
      .. ",",
    "  num_samples = " .. (o.n or 4) .. ",",
    o.extra or "",
    "}", "",
  }, "\n"))
end

local function run_plot(dir, ...)
  local r = H.run { "plot", dir, ... }
  assert.are.equal(0, r.code, H.describe(r))
  return r
end

-- The data embedded in the page, decoded.
local function page_data(html)
  local json = html:match('<script id="tl%-data" type="application/json">(.-)</script>')
  assert.is_truthy(json, "no embedded data")
  return H.decode(json)
end

local function with_results(summary)
  return H.count(summary.trials, function(t) return t.iterations > 0 end)
end

describe("e2e: tunelua plot", function()
  teardown(H.cleanup)

  describe("an ASHA experiment of 81 trials", function()
    local dir, summary, html
    setup(function()
      local exp = H.root .. "/examples/research/asha_vs_fifo.lua"
      dir = H.tmpdir() .. "/asha"
      local r = H.run { exp, "--dir", dir, "--seed", "1", "--quiet" }
      assert.are.equal(0, r.code, H.describe(r))
      summary = H.summary(dir)
      run_plot(dir)
      html = H.read(dir .. "/report.html")
    end)

    it("writes DIR/report.html, one file that asks for nothing on the network", function()
      assert.is_truthy(html and #html > 1000)
      -- no external script, style, font or image: every URL in the page is our own data
      assert.is_nil(html:find("<script[^>]-src=", 1))
      assert.is_nil(html:find("<link", 1, true))
      assert.is_nil(html:find("@import", 1, true))
      assert.is_nil(html:find("url%(http"))
      for url in html:gmatch("https?://[^%s\"'<>)]+") do
        assert.are.equal("http://www.w3.org/2000/svg", url) -- the SVG namespace, not a fetch
      end
    end)

    it("embeds every trial, its curve and the scheduler's stops from the journal", function()
      local data = page_data(html)
      assert.are.equal(81, #data.trials)
      assert.are.equal("loss", data.metric)
      assert.are.equal("min", data.mode)
      local stops, marks = 0, 0
      for _, ev in ipairs(H.journal(dir)) do
        if ev.ev == "decision" and ev.action == "stop" and ev.by == "scheduler" then
          stops = stops + 1
        end
      end
      local by_id = H.trials_by_id(summary)
      for _, t in ipairs(data.trials) do
        assert.are.equal(by_id[t.id].iterations, #t.pts)
        assert.are.equal(by_id[t.id].status, t.status)
        for _, m in ipairs(t.marks) do if m[1] == "stop" then marks = marks + 1 end end
      end
      assert.is_true(stops > 0)
      assert.are.equal(stops, marks)
      -- best-so-far: improving (min), ending at the best trial's best loss
      local best = data.best
      for i = 2, #best do assert.is_true(best[i][2] < best[i - 1][2]) end
      assert.are.equal(summary.best_trial, best[#best][3])
      assert.is_true(math.abs(by_id[summary.best_trial].best_result.loss - best[#best][2]) < 1e-6)
    end)

    it("renders in headless Chromium without script errors, one curve per trial", function()
      if not B.bin then return pending(B.missing) end
      local dom = B.dom(B.file_url(dir .. "/report.html"))
      local n, text = B.errors(dom)
      assert.are.equal(0, n, text)
      assert.are.equal(with_results(summary), B.curves(dom))
      assert.are.equal(81, B.count(dom, '<tr data%-trial="'))
      assert.is_true(B.count(dom, 'class="mark mark%-stop"') > 0)
      assert.is_true(B.count(dom, 'class="pc%-line"') == 81)
      local png = H.tmpdir() .. "/report.png"
      assert.is_true(B.screenshot(B.file_url(dir .. "/report.html"), png))
    end)
  end)

  it("-o writes elsewhere; a trial, a string metric, a failed trial without results", function()
    -- one trial whose metric is not a number: no curve, the table shows the values
    local exp = sim { name = "strings", n = 1,
      fn = "function(c, it) return { grade = it < 3 and 'low' or 'high', loss = 1 / it } end",
      extra = "  metric = 'grade', mode = 'max', stop = { training_iteration = 4 }," }
    local dir = H.tmpdir() .. "/strings"
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local out = H.tmpdir() .. "/r.html"
    run_plot(dir, "-o", out)
    assert.is_falsy(H.exists(dir .. "/report.html"))
    local data = page_data(H.read(out))
    assert.are.equal(1, #data.trials)
    assert.are.equal(0, #data.trials[1].pts)
    assert.are.equal("high", data.trials[1].last)
    if B.bin then
      local dom = B.dom(B.file_url(out))
      local n, text = B.errors(dom)
      assert.are.equal(0, n, text)
      assert.are.equal(0, B.curves(dom))
      assert.is_truthy(dom:find("No numeric results", 1, true))
    end

    -- trials that crash at once: ERROR, no results, an error mark-free page
    exp = H.experiment(H.exp_src { name = "crash", cmd = '{ "sh", "-c", "exit 1" }',
      config = "{ x = tune.uniform(0, 1) }",
      extra = "  num_samples = 2, metric = 'loss', mode = 'min'," })
    dir = H.tmpdir() .. "/crash"
    r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(1, r.code, H.describe(r))
    run_plot(dir)
    data = page_data(H.read(dir .. "/report.html"))
    assert.are.equal(2, #data.trials)
    assert.are.equal("ERROR", data.trials[1].status)
    if B.bin then
      local dom = B.dom(B.file_url(dir .. "/report.html"))
      local n, text = B.errors(dom)
      assert.are.equal(0, n, text)
      assert.are.equal(0, B.curves(dom))
      assert.are.equal(2, B.count(dom, '<tr data%-trial="'))
    end
  end)

  it("marks PBT's pauses and exploits where they happened", function()
    local toy = require("spec.schedulers.pbt_toy").toy
    local exp = H.experiment(toy([[tune.schedulers.pbt {
      time_attr = "training_iteration", perturbation_interval = 4, quantile_fraction = 0.5,
      hyperparam_mutations = { h = { tune.uniform(0, 1), tune.uniform(0, 1) } }, synch = true }]]))
    local dir = H.tmpdir() .. "/pbt"
    local r = H.run { exp, "--dir", dir, "--quiet", "--seed", "2" }
    assert.are.equal(0, r.code, H.describe(r))
    run_plot(dir)
    -- each exploit of the journal (trial <- the trial it copied) is one mark on that trial
    local want, got = {}, {}
    for _, ev in ipairs(H.journal(dir)) do
      if ev.ev == "exploit" then want[#want + 1] = ev.trial .. "<-" .. ev.from end
    end
    for _, t in ipairs(page_data(H.read(dir .. "/report.html")).trials) do
      for _, m in ipairs(t.marks) do
        if m[1] == "exploit" then got[#got + 1] = t.id .. "<-" .. m[4] end
      end
    end
    local exploits = #want
    assert.is_true(exploits > 0)
    table.sort(want)
    table.sort(got)
    assert.are.same(want, got)
    if not B.bin then return pending(B.missing) end
    local dom = B.dom(B.file_url(dir .. "/report.html"))
    local n, text = B.errors(dom)
    assert.are.equal(0, n, text)
    assert.are.equal(2, B.curves(dom))
    assert.are.equal(exploits, B.count(dom, 'class="mark mark%-exploit"'))
    assert.is_true(B.count(dom, 'class="mark mark%-pause"') > 0)
  end)

  it("draws 1000 trials", function()
    local exp = sim { name = "many", n = 1000,
      fn = "function(c, it) return { acc = 1 - c.lr / it } end",
      extra = "  metric = 'acc', mode = 'max', stop = { training_iteration = 3 },"
        .. " max_concurrent = 50," }
    local dir = H.tmpdir() .. "/many"
    local r = H.run { exp, "--dir", dir, "--quiet", "--seed", "3" }
    assert.are.equal(0, r.code, H.describe(r))
    run_plot(dir)
    local html = H.read(dir .. "/report.html")
    assert.are.equal(1000, #page_data(html).trials)
    if not B.bin then return pending(B.missing) end
    local dom = B.dom(B.file_url(dir .. "/report.html"))
    local n, text = B.errors(dom)
    assert.are.equal(0, n, text)
    assert.are.equal(1000, B.curves(dom))
  end)

  it("exits 2 with a clear message when DIR is not an experiment directory", function()
    local d = H.tmpdir()
    local r = H.run { "plot", d }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("not a tunelua experiment directory", 1, true), r.stderr)
    r = H.run { "plot", d .. "/nope" }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("is not a directory", 1, true), r.stderr)
    r = H.run { "plot" }
    assert.are.equal(2, r.code, H.describe(r))
    r = H.run { "plot", d, "--bogus" }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("unknown option --bogus", 1, true), r.stderr)
  end)
end)
