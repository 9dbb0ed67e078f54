-- End-to-end: an experiment's budget (lua/tunelua/budget.lua): the trials it ends, the end of
-- the run and summary.json say that the budget is spent; a resume counts the time the
-- earlier runs used.
local H = require "spec.e2e.helpers"

local function reasons(dir)
  local out = {}
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == "status" and e.status == "TERMINATED" then out[#out + 1] = e.reason end
  end
  return out
end

describe("e2e: budget", function()
  teardown(H.cleanup)

  it("a results budget: the trials, the end of the run and summary.json say it is spent",
    function()
      local exp = H.experiment [[
local tune = require "tunelua"
return tune.experiment {
  trainer = { simulate = function(c, it) return { loss = c.x / it } end, iteration_time = 1 },
  config = { x = tune.uniform(0, 1) },
  num_samples = 6, max_concurrent = 2, metric = "loss", mode = "min",
  stop = { training_iteration = 50 },
  budget = { results = 20 },
}
]]
      local want = "the experiment's budget is spent (20 results)"
      local dir = H.tmpdir() .. "/run"
      local r = H.run { exp, "--dir", dir }
      assert.are.equal(0, r.code, H.describe(r))
      assert.is_truthy(r.stdout:find("Ended early: " .. want .. ".", 1, true), r.stdout)
      local s = H.summary(dir)
      assert.are.equal(want, s.budget_spent)
      assert.are.equal(2, #s.trials) -- nothing new starts once it is spent
      assert.are.equal(2, s.counts.TERMINATED)
      local rs = reasons(dir)
      assert.are.equal(2, #rs)
      for _, why in ipairs(rs) do assert.are.equal(want, why) end
      local by = {}
      for _, e in ipairs(H.journal(dir)) do
        if e.ev == "decision" and e.action == "stop" then by[#by + 1] = e.by end
      end
      assert.are.same({ "budget", "budget" }, by)
      -- --json: the end line says it too; a run within its budget says null
      local r2 = H.run { exp, "--dir", H.tmpdir() .. "/run", "--json" }
      assert.are.equal(0, r2.code, H.describe(r2))
      local last = H.decode(r2.stdout:match("([^\n]+)\n?$"))
      assert.are.equal("end", last.ev)
      assert.are.equal(want, last.budget_spent)
      local big = H.experiment((H.read(exp):gsub("results = 20", "results = 1000")))
      local dir3 = H.tmpdir() .. "/run"
      assert.are.equal(0, H.run({ big, "--dir", dir3, "--quiet" }).code)
      assert.are.equal(H.null, H.summary(dir3).budget_spent)
      for _, why in ipairs(reasons(dir3)) do assert.are.equal("stop criterion met", why) end
    end)

  it("a time budget counts, on resume, the time the earlier runs used", function()
    local marker = H.marker("tlbudget")
    local exp = H.experiment(H.exp_src {
      name = "budget-time",
      cmd = H.sh_trainer("steps.sh", "1000", "0.1", marker),
      extra = "  num_samples = 1, metric = 'loss', mode = 'min', budget = { time = 3 },",
    })
    local dir = H.tmpdir() .. "/run"
    local h = H.spawn({ exp, "--dir", dir, "--quiet" })
    H.sleep(2.2)
    h.kill("INT")
    local code = h.wait(15)
    H.reap(marker)
    assert.are.equal(3, code)
    local r = H.run { "resume", dir, "--quiet" }
    H.reap(marker)
    assert.are.equal(0, r.code, H.describe(r))
    -- about 1 s of the 3 were left; without the first run's time it would take 3. Timed
    -- from the journal (resumed -> experiment_end), not the wall clock around the command,
    -- whose start-up a tool like valgrind stretches by seconds
    local resumed, ended
    for _, e in ipairs(H.journal(dir)) do
      if e.ev == "resumed" then resumed = e.t end
      if e.ev == "experiment_end" then ended = e.t end
    end
    assert.truthy(resumed and ended, "resumed and experiment_end in the journal")
    local took = ended - resumed
    assert.is_true(took < 2.4, "the resume took " .. took .. " s")
    local s = H.summary(dir)
    assert.are.equal("the experiment's budget is spent (3 s)", s.budget_spent)
    assert.are.same({ s.budget_spent }, reasons(dir))
  end)
end)
