-- End-to-end: what stops a trial or the experiment cleanly: trial_timeout, hostile
-- messages, slow scheduler callbacks, a full disk (resumable once there is room), and when
-- the journal is synced (--fsync).
local H = require "spec.e2e.helpers"

local function run(src, args, env)
  local exp, d = H.experiment(src)
  local dir = d .. "/run"
  local argv = { exp, "--dir", dir, "--quiet" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return H.run(argv, { env = env }), dir
end

describe("e2e: durability and limits", function()
  teardown(H.cleanup)

  it("trial_timeout kills a silent trial and retries it", function()
    local r, dir = run([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "sh", "-c", "tunelua report a=1 >/dev/null; sleep 30" },
              stop_grace_s = 0.3 },
  trial_timeout = 0.5, max_failures = 1,
}]])
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.are.equal(2, t.failures)
    assert.are.equal(2, t.iterations) -- one report per run, counted across the retry
    assert.truthy(t.error:find("trial_timeout = 0.5", 1, true), t.error)
    assert.is_true(r.secs < 8, "took " .. r.secs)
  end)

  it("metrics nested too deep fail the trial, not the engine", function()
    local deep = string.rep('{"a":', 20) .. "1" .. string.rep("}", 20)
    local r, dir = run([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "python3", "-c", [=[
import json, os, socket
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["TUNELUA_CONNECT"][5:])
f = s.makefile("rwb")
f.write((json.dumps({"type": "hello", "protocol": 1, "trial": os.environ["TUNELUA_TRIAL_ID"],
                     "token": os.environ["TUNELUA_TOKEN"]}) + "\n").encode()); f.flush()
f.readline()
f.write(b'{"type":"report","metrics":]] .. deep .. [[}\n'); f.flush()
print(f.readline())
]=] } },
}]])
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.truthy(t.error:find("deeper than 16", 1, true), t.error)
  end)

  it("a slow scheduler callback is reported", function()
    local r = run([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { simulate = function() return { loss = 1 } end },
  stop = { training_iteration = 2 },
  scheduler = { name = "slow", on_result = function()
    local t0 = os.clock()
    while os.clock() - t0 < 0.1 do end
    return "continue"
  end },
}]], nil, { TUNELUA_SLOW_CALLBACK_S = "0.05" })
    assert.are.equal(0, r.code, H.describe(r))
    assert.truthy(r.stderr:find("runner.on_result took", 1, true), r.stderr)
  end)

  it("a full disk stops the experiment; resume completes it once there is room", function()
    local mnt = H.tmpdir() .. "/small"
    os.execute("mkdir -p " .. H.quote(mnt))
    if not H.sh("mount -t tmpfs -o size=300k tmpfs " .. H.quote(mnt) .. " 2>/dev/null") then
      pending("needs root to mount a small tmpfs")
      return
    end
    local exp = H.experiment([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { simulate = function(c, it)
    return { loss = c.x / it, pad = string.rep("x", 200) }
  end },
  config = { x = tune.uniform(0, 1) }, num_samples = 20, metric = "loss", mode = "min",
  stop = { training_iteration = 100 },
}]])
    local dir = mnt .. "/run"
    local r = H.run { exp, "--dir", dir, "--seed", "4", "--quiet" }
    local big = H.tmpdir() .. "/run"
    os.execute("cp -r " .. H.quote(dir) .. " " .. H.quote(big))
    os.execute("umount " .. H.quote(mnt))
    assert.are.equal(1, r.code, H.describe(r))
    assert.truthy(r.stderr:find("No space left on device", 1, true), r.stderr)
    r = H.run { "resume", big, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local s = H.summary(big)
    assert.are.equal("done", s.status)
    for _, t in ipairs(s.trials) do assert.are.equal(100, t.iterations) end
    assert.are.equal(20, #s.trials)
  end)
  describe("--fsync", function()
    -- 2 trainers, 40 reports each, back to back: fast enough to finish within a second
    local src = [[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "python3", "-c",
                      "import tunelua as t\nfor i in range(40): t.report(loss=1/(i+1))" } },
  num_samples = 2, metric = "loss", mode = "min",
}]]
    local function journaled(dir)
      local n, last = 0, nil
      for _, e in ipairs(H.journal(dir)) do
        if e.ev == "result" then n = n + 1 end
        last = e
      end
      return n, last
    end

    it("always syncs before the decisions, so nearly every result has its own sync", function()
      local r, dir = run(src, { "--fsync", "always" })
      assert.are.equal(0, r.code, H.describe(r))
      local n, last = journaled(dir)
      assert.are.equal(80, n)
      assert.are.equal("experiment_end", last.ev)
      assert.are.equal("always", last.fsync)
      -- group commit may share a sync between the 2 trainers' results, never more
      assert.is_true(last.syncs >= 40, "syncs " .. last.syncs)
    end)

    it("periodic (the default) acknowledges after the write and syncs once a second", function()
      local r, dir = run(src)
      assert.are.equal(0, r.code, H.describe(r))
      local n, last = journaled(dir)
      assert.are.equal(80, n)
      assert.are.equal("periodic", last.fsync)
      assert.is_true(last.syncs <= math.ceil(r.secs) + 1,
        "syncs " .. last.syncs .. " in " .. r.secs .. " s")
    end)

    it("never (--no-fsync) syncs nothing; a wrong mode exits 2 naming the option", function()
      local r, dir = run(src, { "--no-fsync" })
      assert.are.equal(0, r.code, H.describe(r))
      local n, last = journaled(dir)
      assert.are.equal(80, n)
      assert.are.equal("never", last.fsync)
      assert.are.equal(0, last.syncs)
      r = run(src, { "--fsync", "sometimes" })
      assert.are.equal(2, r.code, H.describe(r))
      assert.truthy(r.stderr:find("--fsync expects periodic, always or never, got sometimes",
        1, true), r.stderr)
    end)
  end)
end)
