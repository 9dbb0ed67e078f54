-- End-to-end: per-trial resources, packing and placement. Each trainer writes its
-- /proc/self/status Cpus_allowed_list and its resource variables into its trial directory
-- (trainers/placement.sh); the journal's start and end instants say what ran at once.
-- GPUs are fake here (TUNELUA_FAKE_GPUS): the machine has none.
local H = require "spec.e2e.helpers"

-- [started, ended) of every run of every trial, with what the engine gave it.
local function intervals(journal)
  local out, open = {}, {}
  for _, ev in ipairs(journal) do
    if ev.ev == "started" then
      open[ev.trial] = { trial = ev.trial, from = ev.t, res = ev.resources }
    elseif ev.ev == "status" and ev.status ~= "RUNNING" and open[ev.trial] then
      local iv = open[ev.trial]
      iv.to = ev.t
      out[#out + 1] = iv
      open[ev.trial] = nil
    end
  end
  return out
end

-- The largest number of intervals running at one instant among those keep() accepts.
local function max_at_once(ivs, keep)
  local best = 0
  for _, a in ipairs(ivs) do
    local n = 0
    for _, b in ipairs(ivs) do
      if (not keep or keep(b)) and b.from <= a.from and a.from < b.to then n = n + 1 end
    end
    if n > best then best = n end
  end
  return best
end

local function placement(dir, id)
  local s = H.read(dir .. "/trials/" .. id .. "/placement.txt")
  assert(s, "trial " .. id .. " wrote no placement.txt")
  local p = {}
  for k, v in s:gmatch("(%w+)=([^\n]*)") do p[k] = v end
  return p
end

local function run(o, args, env)
  local exp = H.experiment(H.exp_src {
    name = o.name or "e2e-res",
    cmd = H.sh_trainer("placement.sh", o.sleep or "0.3"),
    trainer_extra = o.resources and ("resources = " .. o.resources) or nil,
    config = o.config or "{ x = tune.uniform(0, 1) }",
    extra = o.extra or "  num_samples = 2,",
  })
  local dir = H.tmpdir() .. "/run"
  local argv = { exp, "--dir", dir, "--quiet", "--seed", "3" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = H.run(argv, { env = env })
  return r, dir
end

describe("e2e: resources and placement", function()
  teardown(H.cleanup)

  it("gives two cpu = 1 trials of --cpus 2 disjoint PUs, one thread each, no GPU", function()
    local r, dir = run({ resources = "{ cpu = 1 }" }, { "--cpus", "2" })
    assert.are.equal(0, r.code, H.describe(r))
    local a, b = placement(dir, "00000"), placement(dir, "00001")
    assert.is_truthy(a.cpus:match("^%d+$"), a.cpus)
    assert.is_truthy(b.cpus:match("^%d+$"), b.cpus)
    assert.are_not.equal(a.cpus, b.cpus)
    for _, p in ipairs { a, b } do
      assert.are.equal("1", p.omp)
      assert.are.equal("1", p.mkl)
      assert.are.equal("1", p.openblas)
      assert.are.equal("", p.cuda)
    end
    local ivs = intervals(H.journal(dir))
    assert.are.equal(2, max_at_once(ivs), "both ran at once")
    assert.are.equal(a.cpus, ivs[1].trial == "00000" and ivs[1].res.cpus or ivs[2].res.cpus)
  end)

  it("packs gpu = 0.5 two trials per card: at most 4 at once, never 3 on a card", function()
    local r, dir = run({ resources = "{ cpu = 0.25, gpu = 0.5 }", extra = "  num_samples = 8," },
      { "--cpus", "2" }, { TUNELUA_FAKE_GPUS = "2" })
    assert.are.equal(0, r.code, H.describe(r))
    local ivs = intervals(H.journal(dir))
    assert.are.equal(8, #ivs)
    for _, iv in ipairs(ivs) do
      local p = placement(dir, iv.trial)
      assert.is_truthy(p.cuda == "0" or p.cuda == "1", "one card each, got " .. p.cuda)
      assert.are.equal(iv.res.cuda, p.cuda)
      assert.are.equal("1", p.omp)
    end
    assert.are.equal(4, max_at_once(ivs))
    for _, card in ipairs { "0", "1" } do
      local n = max_at_once(ivs, function(iv) return iv.res.cuda == card end)
      assert.is_true(n <= 2, "card " .. card .. " had " .. n .. " trials at once")
    end
  end)

  it("gives gpu = 1 trials distinct cards", function()
    local r, dir = run({ resources = "{ cpu = 0.5, gpu = 1 }", extra = "  num_samples = 4," },
      { "--cpus", "2" }, { TUNELUA_FAKE_GPUS = "2" })
    assert.are.equal(0, r.code, H.describe(r))
    local ivs = intervals(H.journal(dir))
    assert.are.equal(2, max_at_once(ivs))
    for i = 1, #ivs do
      for j = i + 1, #ivs do
        local a, b = ivs[i], ivs[j]
        if a.from < b.to and b.from < a.to then assert.are_not.equal(a.res.cuda, b.res.cuda) end
      end
      assert.are.equal(ivs[i].res.cuda, placement(dir, ivs[i].trial).cuda)
    end
  end)

  it("places a trial's CPUs near its card (fake locality)", function()
    local r, dir = run({ resources = "{ cpu = 1, gpu = 1 }" }, { "--cpus", "2" },
      { TUNELUA_FAKE_GPUS = "2", TUNELUA_FAKE_GPU_CPUS = "1;0" })
    assert.are.equal(0, r.code, H.describe(r))
    for _, id in ipairs { "00000", "00001" } do
      local p = placement(dir, id)
      -- card 0 is near PU 1, card 1 near PU 0
      assert.are.equal(p.cuda == "0" and "1" or "0", p.cpus, id .. " on card " .. p.cuda)
    end
  end)

  it("fails a trial asking for more cards than exist at once, saying what exists", function()
    local r, dir = run({ resources = "{ gpu = 3 }", extra = "  num_samples = 1," }, {},
      { TUNELUA_FAKE_GPUS = "2" })
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.is_truthy(t.error:find("asks for cpu=1, gpu=3", 1, true), t.error)
    assert.is_truthy(t.error:find("2 GPUs", 1, true), t.error)
    assert.is_truthy(t.error:find("TUNELUA_FAKE_GPUS=2", 1, true), t.error)
    assert.is_falsy(H.exists(dir .. "/trials/00000/placement.txt"), "it never ran")
    assert.is_true(r.secs < 10)
  end)

  it("fails a trial asking for more memory than the machine has", function()
    local r, dir = run({ resources = "{ mem = '1000P' }", extra = "  num_samples = 1," })
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.is_truthy(t.error:find("mem=1e+03 PiB", 1, true), t.error)
    assert.is_truthy(t.error:find("of memory", 1, true), t.error)
  end)

  it("accounts memory against --mem: two mem = 2G trials of --mem 3G run one at a time", function()
    local r, dir = run({ resources = "{ cpu = 0.5, mem = '2G' }" },
      { "--cpus", "2", "--mem", "3G" })
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.equal(1, max_at_once(intervals(H.journal(dir))))
  end)

  it("takes per-trial resources from a function of the config", function()
    local r, dir = run({
      resources = "function(c) return { cpu = c.big and 2 or 1 } end",
      config = "{ big = tune.grid_search { true, false, false } }",
      extra = "  num_samples = 1, searcher = tune.searchers.grid {},",
    }, { "--cpus", "2" })
    assert.are.equal(0, r.code, H.describe(r))
    local ivs = intervals(H.journal(dir))
    local big
    for _, t in ipairs(H.summary(dir).trials) do
      local p = placement(dir, t.id)
      if t.config.big then
        big = t.id
        assert.are.equal("0-1", p.cpus)
        assert.are.equal("2", p.omp)
      else
        assert.is_truthy(p.cpus:match("^%d$"), p.cpus)
        assert.are.equal("1", p.omp)
      end
    end
    assert.is_not_nil(big)
    -- the cpu = 2 trial ran alone; the two small ones side by side
    assert.are.equal(1, max_at_once(ivs, function(iv) return iv.trial == big end))
    for _, iv in ipairs(ivs) do
      if iv.trial == big then
        for _, o in ipairs(ivs) do
          if o ~= iv then assert.is_false(o.from < iv.to and iv.from < o.to) end
        end
      end
    end
    assert.are.equal(2, max_at_once(ivs))
  end)

  it("fails a trial whose resources function gives something unusable", function()
    local r, dir = run({
      resources = "function(c) return { gpu = 1.5 } end", extra = "  num_samples = 1,",
    })
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.is_truthy(t.error:find("trainer.resources(config).gpu must be a whole number", 1, true),
      t.error)
  end)

  it("accounts custom resources from --resource and custom_resources", function()
    local r, dir = run({ resources = "{ cpu = 0.5, custom = { license = 1 } }" },
      { "--cpus", "2", "--resource", "license=1" })
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.equal(1, max_at_once(intervals(H.journal(dir))))
    r, dir = run({
      resources = "{ cpu = 0.5, custom = { license = 1 } }",
      extra = "  num_samples = 2, custom_resources = { license = 2 },",
    }, { "--cpus", "2" })
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.equal(2, max_at_once(intervals(H.journal(dir))))
  end)

  it("fails a trial asking for a custom resource nobody declared", function()
    local r, dir = run({ resources = "{ custom = { license = 1 } }", extra = "  num_samples = 1," })
    assert.are.equal(1, r.code, H.describe(r))
    local err = H.summary(dir).trials[1].error
    assert.is_truthy(err:find("license=1", 1, true), err)
    assert.is_truthy(err:find("license=0 (none declared", 1, true), err)
  end)

  it("leaves a trial that does not fit PENDING when a scheduler chooses it anyway", function()
    local base = H.tmpdir()
    local sched = H.write(base .. "/greedy.lua", [[
-- chooses the first PENDING trial whether or not it fits
return function()
  local s = { name = "greedy" }
  function s:setup(exp) self.exp = exp end
  function s.on_result() return "continue" end
  function s:choose_trial_to_run()
    for _, t in ipairs(self.exp.trials) do
      if t.status == "PENDING" then return t end
    end
  end
  return s
end
]])
    local r, dir = run({ resources = "{ cpu = 2 }", extra = "  num_samples = 3," },
      { "--cpus", "2", "--scheduler", sched })
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(dir)
    assert.are.equal(3, #s.trials)
    for _, t in ipairs(s.trials) do assert.are.equal("TERMINATED", t.status) end
    assert.are.equal(1, max_at_once(intervals(H.journal(dir))))
  end)

  it("rejects a fractional gpu above 1 in the experiment, naming the line", function()
    local r = run({ resources = "{ gpu = 1.5 }" })
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("exp.lua:%d+: trainer.resources.gpu must be a whole number"),
      r.stderr)
  end)

  it("keeps the trainer's exit status and signals through tunelua-bind", function()
    -- the binder the engine uses: the one beside the binary under test (build-asan/ too)
    local bind = H.quote((H.bin:gsub("[^/]+$", "tunelua-bind")))
    assert.are.equal(7, H.sh(bind .. " 0 -- sh -c 'exit 7'"))
    -- (the shell's own "Terminated" notice goes to /dev/null with the group's stderr)
    assert.are.equal("143", H.capture("{ " .. bind ..
      " 0 -- sh -c 'kill -TERM $$'; echo $?; } 2>/dev/null"))
    local out = H.capture(bind .. " 1,0 -- sh -c " ..
      H.quote("grep Cpus_allowed_list: /proc/self/status; echo \"$0 $1\"") .. " a b")
    assert.is_truthy(out:find("Cpus_allowed_list:%s+0%-1\n"), out)
    assert.is_truthy(out:find("a b", 1, true), out)
    assert.are.equal(127, H.sh(bind .. " 0 -- /nonexistent/trainer"))
    assert.are.equal(127, H.sh(bind .. " 0 sh -c true")) -- usage: no "--"
    -- a bad list runs the trainer unpinned, with a warning
    out = H.capture(bind .. " 0-x -- sh -c 'echo ran' 2>&1")
    assert.is_truthy(out:find('bad CPU list "0-x"', 1, true), out)
    assert.is_truthy(out:find("ran", 1, true), out)
  end)

  it("does not pin trials when tunelua-bind is not beside the engine", function()
    local d = H.tmpdir()
    os.execute("cp " .. H.quote(H.bin) .. " " .. H.quote(d .. "/tunelua"))
    local r = H.run({ "resources", "--json" }, { bin = d .. "/tunelua" })
    assert.are.equal(0, r.code, H.describe(r))
    local c = H.decode(r.stdout).cpus
    assert.is_false(c.binding)
    assert.are.equal("off: " .. d .. "/tunelua-bind is missing (make builds it beside tunelua)",
      c.binding_note)
  end)

  it("tunelua resources says what it found and where from", function()
    local r = H.run({ "resources" }, { env = { TUNELUA_FAKE_GPUS = "2" } })
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_truthy(r.stdout:find("CPUs    %d+ for trials %(hwloc"), r.stdout)
    assert.is_truthy(r.stdout:find("Memory  ", 1, true), r.stdout)
    assert.is_truthy(r.stdout:find("GPUs    2 (TUNELUA_FAKE_GPUS=2", 1, true), r.stdout)
    assert.is_truthy(r.stdout:find("fake GPU 1, 16 GiB", 1, true), r.stdout)
    r = H.run({ "resources", "--json", "--cpus", "2", "--resource", "license=3" },
      { env = { TUNELUA_FAKE_GPUS = "" } })
    assert.are.equal(0, r.code, H.describe(r))
    local j = H.decode(r.stdout)
    assert.are.equal(2, j.cpus.total)
    assert.is_true(j.memory.total > 0)
    assert.are.equal("number", type(j.gpus.count))
    assert.is_truthy(j.gpus.source ~= "")
    assert.are.equal(3, j.custom.license.total)
    assert.is_true(#j.topology.numa_nodes >= 1)
  end)
end)
