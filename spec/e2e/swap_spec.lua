-- Hot swap: a scheduler swapped in mid-run (SIGHUP, or TUNELUA_SWAP_AT in these specs) is
-- replayed the journal and ends in the state of one that saw the history live; a bad swap
-- leaves the run as it was; `tunelua resume DIR --scheduler X` is a swap that later resumes
-- keep. docs/usage.md, "Hot swap".
local H = require "spec.e2e.helpers"
local A = require "spec.e2e.algos"

local function run(args, env)
  local r = H.run(args, { env = env })
  assert.are.equal(0, r.code, H.describe(r))
  return r
end

local function sim(path, dir, env)
  return run({ path, "--dir", dir, "--seed", "3", "--quiet", "--cpus", "8" }, env)
end

local events = H.events

describe("hot swap", function()
  teardown(H.cleanup)

  -- The same scheduler swapped for a fresh copy of itself twice (re-read from the experiment
  -- file): a replay that rebuilt anything less than the whole state would change a later
  -- decision, and so the journal.
  for _, c in ipairs(A.combos) do
    it(c[1] .. " swapped for itself after results 20 and 45: the same journal", function()
      local path = H.experiment(A.src(c[2], c[3]))
      local ref, dir = H.tmpdir() .. "/ref", H.tmpdir() .. "/swapped"
      sim(path, ref)
      local r = sim(path, dir, { TUNELUA_SWAP_AT = "20,45" })
      local swaps = events(dir, "swap")
      assert.are.equal(2, #swaps, H.describe(r))
      assert.are.equal(20, swaps[1].results)
      assert.are.equal("experiment", swaps[1].source)
      assert.are.equal("TUNELUA_SWAP_AT=45", swaps[2].trigger)
      assert.is_true(H.exists(dir .. "/" .. swaps[1].file))
      assert.truthy(r.stderr:find("hot swap (TUNELUA_SWAP_AT=20): scheduler", 1, true), r.stderr)
      assert.is_nil(A.first_difference(A.journal(ref), A.journal(dir, { swap = true })))
    end)
  end

  -- FIFO, then ASHA swapped in after result 30, against a shadow: ASHA fed the same results
  -- live from the start (its decisions thrown away, so that the run is FIFO's). At the first
  -- result after the swap both print their rungs (every value recorded, per trial) and the
  -- decision they take: identical.
  it("fifo -> asha: the swapped-in ASHA has the rungs of one that saw the history live", function()
    local dumps = H.tmpdir()
    local probe = H.write(H.tmpdir() .. "/probe.lua", [[
local SHADOW, DUMPS = os.getenv("PROBE_SHADOW") == "1", ]] .. H.lit(dumps) .. [[

local P = {}
P.__index = P
function P:setup(exp)
  self.exp = exp
  self.inner:setup(exp)
end
function P:on_trial_add(t) self.inner:on_trial_add(t) end
function P:on_trial_complete(t, r) self.inner:on_trial_complete(t, r) end
function P:choose_trial_to_run() return self.inner:choose_trial_to_run() end
local function rungs(self)
  local L, out = self.inner.ladders[1], {}
  for k = 1, #L.t do
    local row = { "rung " .. L.t[k] .. ":" }
    for _, v in ipairs(self.exp.trials) do
      local x = L:get(k, v)
      if x then row[#row + 1] = v.id .. "=" .. string.format("%.17g", x) end
    end
    out[#out + 1] = table.concat(row, " ")
  end
  return table.concat(out, "\n")
end
function P:on_result(t, r)
  local live = not self.exp.replaying and (SHADOW or not self.dumped)
  local before = live and rungs(self)
  local d = self.inner:on_result(t, r)
  if live then
    self.dumped = true
    local f = assert(io.open(DUMPS .. "/" .. (SHADOW and "shadow" or "swapped") .. "-" .. t.id ..
      "-" .. r.training_iteration, "w"))
    f:write(before, "\ndecision: ", d, "\n")
    f:close()
  end
  if SHADOW then return "continue" end
  return d
end
return function()
  local asha = require("schedulers.asha")
  return setmetatable({ name = "probe", inner = asha { max_t = 27, grace_period = 1,
    reduction_factor = 3 } }, P)
end
]])
    local fifo = H.experiment(A.src("tune.schedulers.fifo {}"))
    local shadow = H.experiment(A.src("dofile(" .. H.lit(probe) .. ")()"))
    local sdir, dir = H.tmpdir() .. "/shadow", H.tmpdir() .. "/swapped"
    sim(shadow, sdir, { PROBE_SHADOW = "1" })
    H.sh("mkdir -p " .. H.quote(dir))
    H.write(dir .. "/swap.lua", "return { scheduler = " .. H.lit(probe) .. " }\n")
    local r = sim(fifo, dir, { TUNELUA_SWAP_AT = "30" })
    local swaps = events(dir, "swap")
    assert.are.equal(1, #swaps, H.describe(r))
    assert.are.same({ "probe", "swap.lua", 30 }, { swaps[1].scheduler, swaps[1].source,
      swaps[1].results })
    local got = H.capture("ls " .. H.quote(dumps) .. " | grep swapped")
    local key = got:match("^swapped%-(.*)$")
    assert.truthy(key, got)
    local swapped, live = H.read(dumps .. "/swapped-" .. key), H.read(dumps .. "/shadow-" .. key)
    assert.are.equal(live, swapped)
    -- the history had reached the second rung (3 iterations) of several trials
    local rung3 = live:match("rung 3:([^\n]*)")
    assert.is_true(select(2, rung3:gsub("=", "")) >= 3, live)
    -- and until the swap the run was FIFO's: the shadow run's first 30 results, in order
    local function results(d)
      local out = {}
      for _, e in ipairs(events(d, "result")) do
        out[#out + 1] = e.trial .. "@" .. e.result.training_iteration
      end
      return out
    end
    local a, b = results(sdir), results(dir)
    for i = 1, 31 do assert.are.equal(a[i], b[i], i) end
    -- afterwards ASHA decides: it stops trials FIFO would have run to the end
    local stops = 0
    for _, e in ipairs(events(dir, "decision")) do
      if e.by == "scheduler" then stops = stops + 1 end
    end
    assert.is_true(stops > 0)
  end)

  -- A run of `--scheduler NAME`, NAME a named variant of the experiment (`schedulers = { ... }`):
  -- a swap without swap.lua re-reads that variant, as `--scheduler NAME` built it (not the
  -- built-in of that name with default options, nor "unknown scheduler"), so swapping it for
  -- itself leaves the journal as it was; swap.lua naming a variant gets the variant too.
  for _, name in ipairs { "asha", "quick" } do
    it("--scheduler " .. name .. " (a named variant) swapped for itself: the same journal",
      function()
        local path = H.experiment(A.src(A.combos[1][2], nil, "  schedulers = { " .. name ..
          " = tune.schedulers.asha { max_t = 9, grace_period = 2, reduction_factor = 2 } },"))
        local ref, dir, viafile = H.tmpdir() .. "/ref", H.tmpdir() .. "/swapped",
          H.tmpdir() .. "/swapfile"
        run { path, "--dir", ref, "--seed", "3", "--quiet", "--cpus", "8", "--scheduler", name }
        local r = run({ path, "--dir", dir, "--seed", "3", "--quiet", "--cpus", "8",
          "--scheduler", name }, { TUNELUA_SWAP_AT = "20,45" })
        assert.are.equal(0, #events(dir, "swap_failed"), r.stderr)
        local swaps = events(dir, "swap")
        assert.are.equal(2, #swaps, H.describe(r))
        assert.are.same({ "--scheduler", name }, { swaps[1].source, swaps[1].name })
        assert.is_nil(A.first_difference(A.journal(ref), A.journal(dir, { swap = true })))
        H.sh("mkdir -p " .. H.quote(viafile))
        H.write(viafile .. "/swap.lua", "return { scheduler = " .. H.lit(name) .. " }\n")
        r = run({ path, "--dir", viafile, "--seed", "3", "--quiet", "--cpus", "8",
          "--scheduler", name }, { TUNELUA_SWAP_AT = "20" })
        assert.are.equal(0, #events(viafile, "swap_failed"), r.stderr)
        assert.is_nil(A.first_difference(A.journal(ref), A.journal(viafile, { swap = true })))
      end)
  end

  it("a scheduler that fails during the replay: warned, journaled, nothing changes", function()
    local path = H.experiment(A.src(A.combos[2][2]))
    local ref, dir = H.tmpdir() .. "/ref", H.tmpdir() .. "/bad"
    sim(path, ref)
    H.sh("mkdir -p " .. H.quote(dir))
    H.write(dir .. "/swap.lua", [[
return { scheduler = { name = "broken", on_result = function(_, t, r)
  if r.training_iteration == 2 then error("broken on purpose") end
  return "continue"
end } }
]])
    local r = sim(path, dir, { TUNELUA_SWAP_AT = "20" })
    assert.truthy(r.stderr:find("hot swap (TUNELUA_SWAP_AT=20) failed; the scheduler is unchanged",
      1, true), r.stderr)
    assert.truthy(r.stderr:find("broken on purpose", 1, true), r.stderr)
    local failed = events(dir, "swap_failed")
    assert.are.equal(1, #failed)
    assert.truthy(failed[1].error:find("broken on purpose", 1, true))
    assert.is_nil(A.first_difference(A.journal(ref), A.journal(dir, { swap_failed = true })))
  end)

  describe("bad swap.lua files, at setup: the run goes on unchanged", function()
    local cases = {
      { "syntax error", "return { scheduler = ", "swap.lua:2:" },
      { "unknown scheduler", "return { scheduler = 'nosuch' }", "unknown scheduler 'nosuch'" },
      { "missing file", "return { scheduler = 'no/such/file.lua' }", "no/such/file.lua" },
      { "bad option",
        "return { scheduler = require('tunelua').schedulers.asha { max_t = -1 } }", "max_t" },
      { "not a scheduler", "return 42", "want a scheduler name" },
      { "a searcher", "return { scheduler = 'tpe' }", "'tpe' is a searcher, not a scheduler" },
      { "raises", "error('swap file raised')", "swap file raised" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local path = H.experiment(A.src(A.combos[2][2]))
        local dir = H.tmpdir() .. "/bad"
        H.sh("mkdir -p " .. H.quote(dir))
        H.write(dir .. "/swap.lua", c[2] .. "\n")
        local r = sim(path, dir, { TUNELUA_SWAP_AT = "10" })
        assert.truthy(r.stderr:find("failed; the scheduler is unchanged", 1, true), r.stderr)
        assert.truthy(r.stderr:find(c[3], 1, true), r.stderr)
        assert.are.equal(1, #events(dir, "swap_failed"))
        assert.are.equal(0, #events(dir, "swap"))
        assert.are.equal("done", H.summary(dir).status)
      end)
    end
  end)

  -- Real trainers, one at a time (x = 0.1 runs first for 6 slow steps): SIGHUP during the
  -- first trial swaps FIFO for the ASHA of swap.lua, which stops the worse trials after it.
  describe("SIGHUP with the local executor", function()
    local function start(swap_src)
      local src = H.exp_src {
        cmd = H.sh_trainer("cfgsteps.sh", "6", "0.15"),
        config = "{ x = tune.grid_search { 0.1, 0.9, 0.8, 0.7 } }",
        extra = "  metric = 'loss', mode = 'min', max_concurrent = 1,",
      }
      local path = H.experiment(src)
      local dir = H.tmpdir() .. "/run"
      H.sh("mkdir -p " .. H.quote(dir))
      H.write(dir .. "/swap.lua", swap_src)
      local h = H.spawn { path, "--dir", dir, "--quiet" }
      local function results()
        local n = 0
        for _, e in ipairs(H.journal(dir)) do if e.ev == "result" then n = n + 1 end end
        return n
      end
      assert.truthy(H.wait_for(function() return results() >= 1 end, 30))
      return h, dir
    end

    it("swaps FIFO for ASHA: running trials go on, later ones are stopped early", function()
      local h, dir = start([[
local tune = require "tunelua"
return { scheduler = tune.schedulers.asha { max_t = 6, grace_period = 1, reduction_factor = 2 } }
]])
      h.kill("HUP")
      assert.are.equal(0, h.wait(60), H.read(h.stderr))
      local swaps = events(dir, "swap")
      assert.are.equal(1, #swaps, H.read(h.stderr))
      assert.are.same({ "asha", "swap.lua", "SIGHUP" }, { swaps[1].scheduler, swaps[1].source,
        swaps[1].trigger })
      assert.are.equal(H.read(dir .. "/swap.lua"), H.read(dir .. "/" .. swaps[1].file))
      assert.truthy(H.read(h.stderr):find("hot swap (SIGHUP): scheduler asha from swap.lua", 1,
        true))
      local by = H.trials_by_id(H.summary(dir))
      assert.are.equal(6, by["00000"].iterations) -- the best ran on to max_t
      local early = 0
      for _, id in ipairs { "00001", "00002", "00003" } do
        assert.are.equal("TERMINATED", by[id].status)
        if by[id].iterations < 6 then early = early + 1 end
      end
      assert.is_true(early >= 2, early)
    end)

    it("a broken swap.lua: a warning, and the run goes on as FIFO", function()
      local h, dir = start("return { scheduler = \n")
      h.kill("HUP")
      assert.truthy(H.wait_for(function() return #events(dir, "swap_failed") == 1 end, 30))
      H.write(dir .. "/swap.lua", "return { scheduler = 'nosuch' }\n")
      h.kill("HUP")
      assert.truthy(H.wait_for(function() return #events(dir, "swap_failed") == 2 end, 30))
      assert.are.equal(0, h.wait(60), H.read(h.stderr))
      local err = H.read(h.stderr)
      assert.truthy(err:find("hot swap (SIGHUP) failed; the scheduler is unchanged", 1, true), err)
      assert.truthy(err:find("unknown scheduler 'nosuch'", 1, true), err)
      assert.are.equal(0, #events(dir, "swap"))
      for _, t in ipairs(H.summary(dir).trials) do
        assert.are.equal("TERMINATED", t.status)
        assert.are.equal(6, t.iterations)
      end
    end)
  end)

  -- A SIGHUP sent while the engine still loads the experiment (a file that takes a second
  -- to evaluate) waits for the loop: the run is swapped, not killed.
  it("SIGHUP before the loop starts is a swap once it does", function()
    local src = H.exp_src {
      cmd = H.sh_trainer("cfgsteps.sh", "3", "0.05"),
      config = "{ x = tune.grid_search { 0.1, 0.9 } }",
      extra = "  metric = 'loss', mode = 'min', max_concurrent = 1,",
    }
    src = "local t0 = os.clock()\nwhile os.clock() - t0 < 1.5 do end\n" .. src
    local path = H.experiment(src)
    local dir = H.tmpdir() .. "/run"
    H.sh("mkdir -p " .. H.quote(dir))
    H.write(dir .. "/swap.lua", [[
local tune = require "tunelua"
return { scheduler = tune.schedulers.fifo {} }
]])
    local h = H.spawn { path, "--dir", dir, "--quiet" }
    H.sh("sleep 0.4")
    assert.is_nil(H.read(dir .. "/journal.jsonl"), "the loop started before the signal")
    h.kill("HUP")
    assert.are.equal(0, h.wait(60), H.read(h.stderr))
    local swaps = events(dir, "swap")
    assert.are.equal(1, #swaps, H.read(h.stderr))
    assert.are.equal("SIGHUP", swaps[1].trigger)
  end)

  -- resume --scheduler is a swap: journaled, with a copy of the file, and a later resume
  -- without --scheduler keeps it. Both schedulers raise once (while a flag file exists,
  -- never in a replay: exp.replaying), which ends the run resumably.
  it("resume --scheduler FILE replaces the scheduler, and later resumes keep it", function()
    local tmp = H.tmpdir()
    local flag1, flag2 = H.write(tmp .. "/flag1", "x"), H.write(tmp .. "/flag2", "x")
    local fragile = [[{ name = "fragile", setup = function(self, exp) self.exp = exp end,
    on_result = function(self, t, r)
      if not self.exp.replaying and t.id == "00001" and r.training_iteration == 10
        and io.open(%s) then error("fragile fifo") end
      return "continue"
    end }]]
    local path = H.experiment(A.src(fragile:format(H.lit(flag1))))
    local asha = H.write(tmp .. "/asha2.lua", [[
local tune = require "tunelua"
local inner = tune.schedulers.asha { max_t = 27, grace_period = 1, reduction_factor = 3 }
local live = 0
local P = setmetatable({ name = "asha2" }, { __index = function(_, k)
  local f = inner[k]
  if type(f) ~= "function" then return f end
  return function(_, ...) return f(inner, ...) end
end })
function P:setup(exp) self.exp = exp; inner:setup(exp) end
function P:on_result(t, r)
  if not self.exp.replaying then
    live = live + 1
    if live == 5 and io.open(]] .. H.lit(flag2) .. [[) then error("fragile asha") end
  end
  return inner:on_result(t, r)
end
return P
]])
    local dir = tmp .. "/run"
    local r = H.run { path, "--dir", dir, "--seed", "3", "--quiet", "--cpus", "8" }
    assert.are.equal(1, r.code, H.describe(r))
    assert.truthy(r.stderr:find("fragile fifo", 1, true))
    os.remove(flag1)
    r = H.run { "resume", dir, "--scheduler", asha, "--quiet" }
    assert.are.equal(1, r.code, H.describe(r))
    assert.truthy(r.stderr:find("fragile asha", 1, true), r.stderr)
    local swaps = events(dir, "swap")
    assert.are.equal(1, #swaps)
    assert.are.same({ "resume", "--scheduler", "swaps/001.lua" }, { swaps[1].trigger,
      swaps[1].source, swaps[1].file })
    assert.are.equal(H.read(asha), H.read(dir .. "/swaps/001.lua"))
    os.remove(flag2)
    os.remove(asha) -- the resume reads the copy
    run { "resume", dir, "--quiet" }
    assert.are.equal(1, #events(dir, "swap"))
    -- ASHA decided after the last resume (FIFO never does): trials stopped before 27
    local journal, last, stops = H.journal(dir), 0, 0
    for i, e in ipairs(journal) do if e.ev == "resumed" then last = i end end
    for i = last + 1, #journal do
      local e = journal[i]
      if e.ev == "decision" and e.by == "scheduler" and e.iteration < 27 then stops = stops + 1 end
    end
    assert.is_true(stops > 0)
    local s = H.summary(dir)
    assert.are.equal("done", s.status)
    local early = 0
    for _, t in ipairs(s.trials) do if t.iterations < 27 then early = early + 1 end end
    assert.is_true(early >= 8, early)
  end)

  -- exp.replaying and exp.warn reach searchers (through the repeater's copy of exp too) and
  -- schedulers; a resume replays with exp.replaying set, and a repeated warning is printed once.
  it("exp.replaying and exp.warn for searchers and schedulers, on resume", function()
    local tmp = H.tmpdir()
    local flag, log = H.write(tmp .. "/flag", "x"), tmp .. "/log"
    local src = A.src([[{ name = "fragile", setup = function(self, exp)
      self.exp = exp
      exp.warn("scheduler warns")
    end,
    on_result = function(self, t, r)
      if self.exp.replaying then return "stop" end -- ignored: the journal says what happened
      if t.id == "00003" and r.training_iteration == 5 and io.open(]] .. H.lit(flag) .. [[) then
        error("fragile")
      end
      return "continue"
    end }]], [[tune.searchers.repeater { ["repeat"] = 2, searcher = setmetatable({
      name = "logging",
      setup = function(self, exp)
        self.exp, self.inner = exp, tune.searchers.random {}
        self.inner:setup(exp)
        exp.warn("searcher warns")
        exp.warn("searcher warns")
      end,
      suggest = function(self, id)
        local f = io.open(]] .. H.lit(log) .. [[, "a")
        f:write(id, " ", tostring(self.exp.replaying), "\n")
        f:close()
        return self.inner:suggest(id)
      end,
    }, { __index = function() return function() end end }) }]])
    local path = H.experiment(src)
    local dir = tmp .. "/run"
    local r = H.run { path, "--dir", dir, "--seed", "3", "--quiet", "--cpus", "8" }
    assert.are.equal(1, r.code, H.describe(r))
    local _, n = r.stderr:gsub("tunelua: warning: searcher warns", "")
    assert.are.equal(1, n, r.stderr)
    assert.truthy(r.stderr:find("tunelua: warning: scheduler warns", 1, true))
    local first = H.lines(log)
    assert.is_true(#first >= 2, #first)
    for _, l in ipairs(first) do assert.truthy(l:match(" false$"), l) end
    os.remove(flag)
    run { "resume", dir, "--quiet" }
    local all = H.lines(log)
    -- the resume asked the inner searcher again for the first run's trials, replaying
    for k = #first + 1, #first + #first do
      assert.truthy(all[k]:match(" true$"), all[k])
    end
    -- then for new ones, live
    assert.truthy(all[#all]:match(" false$"), all[#all])
    for _, t in ipairs(H.summary(dir).trials) do assert.are.equal(27, t.iterations) end
  end)
end)
