-- The slurm executor on a real two-node Slurm cluster (spec/slurm/cluster.sh: n1 and n2 on
-- this machine). `make test-slurm` starts the cluster, runs these specs and stops it; without
-- a cluster (SLURM_CONF unset, or its nodes not there) they are pending.
local H = require "spec.e2e.helpers"

local conf = os.getenv("SLURM_CONF")
local nodes = conf and H.capture("sinfo -h -N -o %N 2>/dev/null") or ""
local up = nodes:match("n1") and nodes:match("n2")

if not up then
  describe("slurm executor", function()
    pending("no Slurm test cluster is up (make test-slurm starts one with spec/slurm/cluster.sh)")
  end)
  return
end

local trainer = H.root .. "/spec/slurm/trainer.py"

local function heal()
  -- both nodes up and idle again (a spec may have killed or downed one)
  assert(H.sh(H.root .. "/spec/slurm/cluster.sh start") == 0, "cannot restart the test cluster")
end

local function experiment(iters, sleep, extra)
  return H.experiment(string.format([[
local tune = require "tunelua"
return tune.experiment {
  name = "slurm-spec",
  trainer = { cmd = { "python3", %s }, resources = { cpu = 1 } },
  config = { sleep = %s, k = tune.grid_search { 1, 2, 3, 4 } },
  stop = { training_iteration = %d },
  executor = tune.slurm { time = "10" %s },
}
]], H.lit(trainer), sleep, iters, extra or ""))
end

-- The results of each trial from the journal and from result.jsonl: both complete, the
-- same, training_iteration 1..n without a gap or a repeat, and x (the trainer's state, from
-- its checkpoints) going up by one, so that a retry continued where the lost run stopped.
-- Where a run was lost x may go up by two: the trainer checkpoints x before it reports it,
-- and a node that dies between the two leaves a checkpoint one step ahead of the results.
local function check_complete(dir, n)
  local journal = {}
  for _, ev in ipairs(H.journal(dir)) do
    if ev.ev == "result" then
      journal[ev.trial] = journal[ev.trial] or {}
      table.insert(journal[ev.trial], ev.result)
    end
  end
  local s = H.summary(dir)
  for _, t in ipairs(s.trials) do
    local rs = journal[t.id]
    assert.are.equal(n, #rs, "trial " .. t.id .. " results in the journal")
    local file = H.jsonl(dir .. "/trials/" .. t.id .. "/result.jsonl")
    assert.are.equal(n, #file, "trial " .. t.id .. " results in result.jsonl")
    for i, r in ipairs(rs) do
      assert.are.equal(i, r.training_iteration, "trial " .. t.id)
      local step = i == 1 and r.x or r.x - rs[i - 1].x
      local retried = i > 1 and r.job ~= rs[i - 1].job
      assert.is_true(step == 1 or (retried and step == 2),
        "trial " .. t.id .. ": x continues from the checkpoint at iteration " .. i)
      assert.are.equal(i, file[i].training_iteration)
      assert.are.equal(r.node, file[i].node)
    end
  end
  return journal, s
end

-- Prints which node ran each result of each trial ("n1 x3, n2 x17").
local function show(title, journal, s)
  print("\n" .. title)
  for _, t in ipairs(s.trials) do
    local runs, last = {}, nil
    for _, r in ipairs(journal[t.id]) do
      if r.node ~= last then
        runs[#runs + 1] = { node = r.node, n = 0, from = r.training_iteration }
      end
      runs[#runs].n = runs[#runs].n + 1
      last = r.node
    end
    local parts = {}
    for _, x in ipairs(runs) do
      parts[#parts + 1] = string.format("%s (iterations %d-%d)", x.node, x.from, x.from + x.n - 1)
    end
    print(string.format("  trial %s %s failures=%d: %s", t.id, t.status, t.failures,
      table.concat(parts, ", then ")))
  end
end

-- Nodes that have run a result of the experiment in dir so far.
local function nodes_seen(dir)
  local seen = {}
  for _, t in ipairs({ "00000", "00001", "00002", "00003" }) do
    local f = io.open(dir .. "/trials/" .. t .. "/result.jsonl")
    if f then
      for line in f:lines() do
        local node = line:match('"node":"(n%d)"')
        if node then seen[node] = (seen[node] or 0) + 1 end
      end
      f:close()
    end
  end
  return seen
end

-- Runs the experiment in the background; once n1 has run some results, `strike` takes n1
-- away; then checks that its trials finished on n2 from their checkpoints.
local function node_loss(strike, title)
  heal()
  local path, d = experiment(30, 0.3)
  local dir = d .. "/run"
  local h = H.spawn({ path, "--dir", dir, "--quiet" }, { timeout = 120 })
  assert.truthy(H.wait_for(function()
    local s = nodes_seen(dir)
    return (s.n1 or 0) >= 4 and (s.n2 or 0) >= 4
  end, 30), "no results from both nodes")
  strike()
  local code = h.wait(120)
  local out = H.read(h.stdout) .. H.read(h.stderr)
  assert.are.equal(0, code, out)
  local journal, s = check_complete(dir, 30)
  show(title, journal, s)
  local lost = 0
  for _, t in ipairs(s.trials) do
    assert.are.equal("TERMINATED", t.status)
    assert.are.equal(0, t.failures, "a lost node is not the trainer's failure")
    local rs = journal[t.id]
    assert.are.equal("n2", rs[#rs].node, "trial " .. t.id .. " ends on the node that is left")
    if rs[1].node == "n1" then
      lost = lost + 1
      local restored = false
      for i = 2, #rs do
        if rs[i].node == "n2" then restored = rs[i].restored end
      end
      assert.is_true(restored, "trial " .. t.id .. " restarted from its checkpoint on n2")
    end
  end
  assert.is_true(lost >= 1, "some trial ran on n1 before it went away")
  local retries = 0
  for _, ev in ipairs(H.journal(dir)) do
    local why = tostring(ev.reason)
    if ev.ev == "status" and ev.status == "PENDING" and why:match("on node n1") then
      retries = retries + 1
    end
  end
  assert.are.equal(lost, retries, "one retry per trial that lost n1, journaled with the node")
  print(string.format("  %d trials lost n1 and finished on n2; 30 results each, none lost", lost))
  heal()
end

describe("slurm executor #slurm", function()
  after_each(H.cleanup)

  it("spreads 4 trials over both nodes, each reporting back over TCP", function()
    heal()
    local path, d = experiment(6, 0.2)
    local dir = d .. "/run"
    local r = H.run({ path, "--dir", dir, "--quiet" }, { timeout = 60 })
    assert.are.equal(0, r.code, H.describe(r))
    local journal, s = check_complete(dir, 6)
    show("4 trials, one job each:", journal, s)
    local used = {}
    for _, t in ipairs(s.trials) do
      assert.are.equal("TERMINATED", t.status)
      used[t.last_result.node] = true
    end
    assert.is_true(used.n1 and used.n2, "both nodes ran trials")
    local ev = H.journal(dir)[2]
    assert.are.equal("slurm", ev.ev)
    assert.is_false(ev.in_allocation)
    assert.truthy(ev.connect:match("^127%.0%.0%.1:%d+$"))
    -- srun's own output and the trainer's land in the trial's directory
    assert.truthy(H.exists(dir .. "/trials/00000/stdout.log"))
    assert.truthy(H.exists(dir .. "/trials/00000/.slurm/run-1.step"))
  end)

  it("packs trials as steps into an allocation (salloc)", function()
    heal()
    local path, d = experiment(4, 0.2)
    local dir = d .. "/run"
    local r = H.run({ "-N2", "-n4", H.bin, path, "--dir", dir, "--quiet" },
      { timeout = 60, bin = "salloc", no_wrap = true })
    assert.are.equal(0, r.code, H.describe(r))
    local journal, s = check_complete(dir, 4)
    show("4 trials as steps of one salloc job:", journal, s)
    local jobs, steps, used = {}, {}, {}
    for _, t in ipairs(s.trials) do
      jobs[t.last_result.job] = true
      steps[t.last_result.step] = true
      used[t.last_result.node] = true
    end
    local njobs, nsteps = 0, 0
    for _ in pairs(jobs) do njobs = njobs + 1 end
    for _ in pairs(steps) do nsteps = nsteps + 1 end
    assert.are.equal(1, njobs, "every trial is a step of the one allocation")
    assert.are.equal(4, nsteps)
    assert.is_true(used.n1 and used.n2)
    assert.is_true(H.journal(dir)[2].in_allocation)
  end)

  it("retries the trials of a node set DOWN on the other node from their checkpoints", function()
    node_loss(function()
      assert.are.equal(0, H.sh("scontrol update nodename=n1 state=down reason=tunelua-spec"))
    end, "node n1 set DOWN mid-run:")
  end)

  it("retries the trials of a node that dies (slurmd and its steps killed)", function()
    node_loss(function()
      assert.are.equal(0, H.sh(H.root .. "/spec/slurm/killnode.sh n1"))
    end, "node n1 killed mid-run (slurmd, slurmstepd, tasks):")
  end)

  it("runs a trial over two nodes (nodes = 2): rank 0 reports, rank 1 gets the config", function()
    heal()
    local path, d = H.experiment(string.format([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "python3", %s }, resources = { cpu = 1, nodes = 2 } },
  config = { lr = 0.25 },
  executor = tune.slurm {},
}
]], H.lit(H.root .. "/spec/slurm/multinode.py")))
    local dir = d .. "/run"
    local r = H.run({ path, "--dir", dir, "--quiet" }, { timeout = 60 })
    assert.are.equal(0, r.code, H.describe(r))
    local res = H.summary(dir).trials[1].last_result
    print(string.format("\none trial on two nodes: rank 0 on %s, rank 1 on %s (lr %s)",
      res.node, res.peer_node, tostring(res.peer_lr)))
    assert.are.same({ n1 = true, n2 = true }, { [res.node] = true, [res.peer_node] = true })
    assert.are.equal(0.25, res.peer_lr)
    assert.is_false(res.peer_connected)
  end)

  it("pauses every step on Ctrl-C (exit 3) and resumes them from their checkpoints", function()
    heal()
    local path, d = experiment(30, 0.3)
    local dir = d .. "/run"
    local h = H.spawn({ path, "--dir", dir, "--quiet" }, { timeout = 120 })
    assert.truthy(H.wait_for(function()
      local s = nodes_seen(dir)
      return (s.n1 or 0) >= 4 and (s.n2 or 0) >= 4
    end, 30), "no results from both nodes")
    os.execute("kill -INT " .. h.pid)
    local code = h.wait(60)
    assert.are.equal(3, code, H.read(h.stderr))
    for _, t in ipairs(H.summary(dir).trials) do assert.are.equal("PAUSED", t.status) end
    -- their steps are gone from the cluster
    assert.truthy(H.wait_for(function()
      return H.capture("squeue -h -n tunelua.slurm-spec.00000,tunelua.slurm-spec.00001," ..
        "tunelua.slurm-spec.00002,tunelua.slurm-spec.00003") == ""
    end, 15), H.capture("squeue"))
    local r = H.run({ "resume", dir, "--quiet" }, { timeout = 90 })
    assert.are.equal(0, r.code, H.describe(r))
    local journal, s = check_complete(dir, 30)
    show("Ctrl-C mid-run, then tunelua resume:", journal, s)
  end)

  it("ends the step of a trainer that ignores the stop decision and SIGTERM", function()
    heal()
    local path, d = H.experiment(string.format([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { %s }, stop_grace_s = 1 },
  stop = { training_iteration = 3 },
  executor = "slurm",
}
]], H.lit(H.root .. "/spec/slurm/stubborn.sh")))
    local dir = d .. "/run"
    local r = H.run({ path, "--dir", dir, "--quiet" }, { timeout = 60 })
    assert.are.equal(0, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("TERMINATED", t.status)
    local step = H.read(dir .. "/trials/00000/stubborn.step"):gsub("%s+$", "")
    local job = step:match("^(%d+)")
    assert.truthy(H.wait_for(function()
      return H.capture("squeue -h -j " .. job .. " 2>/dev/null") == ""
    end, 15), "job " .. job .. " still there: " .. H.capture("squeue"))
    -- Slurm sends SIGKILL KillWait (3 s here) after the SIGTERM it ignores
    assert.truthy(H.wait_for(function()
      return H.capture("pgrep -f '[s]tubborn.sh'") == ""
    end, 15), "the stubborn trainer is still running")
    print(string.format("\nstubborn trainer (step %s): TERMINATED, step gone", step))
  end)

  it("runs the C, Lua and shell clients' examples over TCP", function()
    heal()
    local cmds = {
      c = [[{ "sh", "-c", 'cc -O2 -Itrainers/c -o "$TUNELUA_TRIAL_DIR/c_trainer" '
        .. 'examples/c_trainer.c && exec "$TUNELUA_TRIAL_DIR/c_trainer"' }]],
      lua = '{ "luajit", "examples/lua_trainer.lua" }',
      shell = '{ "sh", "examples/shell_trainer.sh" }',
    }
    local line = {}
    for _, client in ipairs { "c", "lua", "shell" } do
      local path = H.experiment(H.exp_src {
        name = "slurm-" .. client, cmd = cmds[client],
        config = "{ lr = 0.05, momentum = 0.5, steps = 5 }",
        extra = '  metric = "loss", mode = "min", executor = "slurm",\n',
      })
      local dir = H.tmpdir() .. "/run"
      local r = H.run({ path, "--dir", dir, "--quiet" }, { timeout = 60 })
      assert.are.equal(0, r.code, client .. ": " .. H.describe(r))
      local t = H.summary(dir).trials[1]
      assert.are.equal("TERMINATED", t.status, client)
      assert.are.equal(5, t.iterations, client)
      local step = H.read(dir .. "/trials/" .. t.id .. "/.slurm/run-1.step")
      line[#line + 1] = client .. " on " .. step:match("%S+ (%S+)")
    end
    print("\nclients over TCP: " .. table.concat(line, ", "))
  end)

  it("refuses a TCP connection with a wrong token", function()
    heal()
    local path, d = H.experiment(string.format([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "python3", %s } },
  executor = "slurm",
}
]], H.lit(H.root .. "/spec/slurm/badtoken.py")))
    local dir = d .. "/run"
    local r = H.run({ path, "--dir", dir, "--quiet" }, { timeout = 60 })
    assert.are.equal(0, r.code, H.describe(r))
    local res = H.summary(dir).trials[1].last_result
    print(string.format("\nwrong token from node %s to %s: %q, then closed: %s", res.node,
      res.connect, res.refused, tostring(res.closed)))
    assert.are.equal("wrong token", res.refused)
    assert.is_true(res.closed)
    assert.truthy(res.connect:match("^tcp:"))
  end)

  local can_unshare = H.sh("unshare -m --propagation private true") == 0
  local hidden = "fails with a clear error when a node does not see the experiment directory"
  if not can_unshare then pending(hidden .. " (needs mount namespaces: unshare -m)") end
  local hidden_it = can_unshare and it or function() end
  hidden_it(hidden, function()
    heal()
    local path, d = experiment(2, 0.1, [[, extra_args = { "--nodelist=n2" } ]])
    -- n2's slurmd (and so its steps) in a mount namespace where d is an empty tmpfs: the
    -- experiment directory is not there, as on a node without the shared filesystem
    local D = os.getenv("TUNELUA_SLURM_DIR") or "/tmp/tunelua-slurm"
    H.sh("kill $(cat " .. D .. "/run/slurmd-n2.pid)")
    assert.truthy(H.wait_for(function()
      return H.sh("kill -0 $(cat " .. D .. "/run/slurmd-n2.pid)") ~= 0
    end, 10))
    assert.are.equal(0, H.sh(string.format("unshare -m --propagation private sh -c " ..
      "'mount -t tmpfs tmpfs %s && exec slurmd -f \"$SLURM_CONF\" -N n2'", H.quote(d))))
    local ok, err = pcall(function()
      assert.truthy(H.wait_for(function()
        return H.capture("sinfo -h -n n2 -o %t") == "idle"
      end, 20), "n2 did not come back")
      local dir = d .. "/run"
      local r = H.run({ path, "--dir", dir, "--quiet" }, { timeout = 60 })
      print("\n" .. r.stderr)
      assert.are.equal(1, r.code, H.describe(r))
      assert.truthy(r.stderr:find("not visible on node n2: " .. dir .. "/.tunelua-nodes is missing",
        1, true), H.describe(r))
      -- the trial whose step found no directory is ERROR; the others were stopped with it
      local errors = 0
      for _, t in ipairs(H.summary(dir).trials) do
        assert.are_not.equal("TERMINATED", t.status)
        if t.status == "ERROR" then errors = errors + 1 end
      end
      assert.is_true(errors >= 1)
    end)
    H.sh("kill $(cat " .. D .. "/run/slurmd-n2.pid)")
    H.wait_for(function() return H.sh("kill -0 $(cat " .. D .. "/run/slurmd-n2.pid)") ~= 0 end, 10)
    heal()
    assert(ok, err)
  end)
end)
