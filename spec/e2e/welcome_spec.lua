-- End-to-end: the early welcome (TUNELUA_WELCOME, docs/protocol.md). The engine puts the
-- welcome a trial's hello will get in the trial's environment; the C, Lua and Python clients
-- start on that copy instead of waiting a round trip, and read and check the one on the
-- socket before their first decision. spec/e2e/trainers/welcome_engine.py stands in for the
-- engine, so the socket's welcome can be held back, refused or made to differ.
local H = require "spec.e2e.helpers"

-- The benchmarks' reporters: each takes its config, sleeps pre_sleep, then reports; the
-- sleep lets the stand-in close a refused connection before the first report is sent.
local config = '{"pre_sleep":0.3,"reports":2}'
local clients = {
  { name = "c" },
  { name = "lua", cmd = "luajit bench/trainers/reporter.lua" },
  { name = "python",
    cmd = "env PYTHONPATH=trainers/python /usr/bin/python3 bench/trainers/reporter.py" },
}

local function serve(client, mode)
  local out = H.tmpdir() .. "/got.json"
  assert.are.equal(0, H.sh(("python3 %s/welcome_engine.py %s %s %s -- %s"):format(H.trainers,
    mode, H.quote(config), out, client.cmd)))
  return H.json(out)
end

describe("e2e: the early welcome", function()
  teardown(H.cleanup)
  setup(function()
    local d = H.tmpdir()
    assert.are.equal(0, H.sh("cc -O2 -Itrainers/c -o " .. d .. "/rep bench/trainers/reporter.c"))
    clients[1].cmd = d .. "/rep"
  end)

  for _, client in ipairs(clients) do
    it(client.name .. ": reports before the socket's welcome has come, on the environment's config",
      function()
        local got = serve(client, "late")
        assert.are.equal(0, got.code, got.stderr)
        assert.are.same({ "hello", "report" }, { got.received[1], got.received[2] })
        assert.are.same({ loss = 1, step = 1 }, got.metrics, got.stderr)
        assert.is_true(got.waited >= 0.25, got.waited) -- it slept pre_sleep: the config's
      end)

    it(client.name .. ": a refused hello is the error of its first report", function()
      local got = serve(client, "refused")
      assert.are_not.equal(0, got.code)
      assert.truthy(got.stderr:find("trial is not running", 1, true), got.stderr)
    end)

    it(client.name .. ": a socket welcome unlike the environment's fails the first report",
      function()
        local got = serve(client, "differs")
        assert.are_not.equal(0, got.code)
        assert.truthy(got.stderr:find("differs from TUNELUA_WELCOME", 1, true), got.stderr)
      end)

    -- the stand-in's socket welcome has another iteration; TUNELUA_WELCOME is not JSON
    for _, case in ipairs {
      { "moved", "takes the iteration of the socket's welcome" },
      { "garbled", "without a usable TUNELUA_WELCOME it waits for the socket's" },
    } do
      it(client.name .. ": " .. case[2], function()
        local got = serve(client, case[1])
        assert.are.equal(0, got.code, got.stderr)
        assert.are.same({ loss = 1, step = 1 }, got.metrics, got.stderr)
      end)
    end

    it(client.name .. ": a child of the process started waits for the socket's welcome", function()
      local got = serve(client, "child")
      assert.are.equal(0, got.code, got.stderr)
      assert.is_true(got.waited < 1, got.waited) -- the socket's pre_sleep 0, not the env's 2
    end)
  end
end)

-- A trainer that writes, into its trial's welcomes.txt, TUNELUA_WELCOME and the welcome its
-- hello gets (a line each); it records a checkpoint when it has none to restore, then
-- reports once.
local probe_src = [[
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["TUNELUA_CONNECT"].partition(":")[2])
f = s.makefile("rwb")
f.write((json.dumps({"type": "hello", "protocol": 1, "trial": os.environ["TUNELUA_TRIAL_ID"],
                     "token": os.environ["TUNELUA_TOKEN"]}) + "\n").encode())
f.flush()
line = f.readline().decode().rstrip("\n")
w = json.loads(line)
with open(os.path.join(os.environ["TUNELUA_TRIAL_DIR"], "welcomes.txt"), "a") as out:
    out.write(os.environ.get("TUNELUA_WELCOME", "") + "\n" + line + "\n")
it = w["iteration"]
if w["restore"] is None:
    d = os.path.join(os.environ["TUNELUA_TRIAL_DIR"], "tmp-probe")
    os.makedirs(d)
    f.write((json.dumps({"type": "checkpoint", "path": d}) + "\n").encode())
    f.flush()
    f.readline()
f.write((json.dumps({"type": "report", "metrics": {"loss": 1.0 / (it + 1)}}) + "\n").encode())
f.flush()
f.readline()
]]

-- Runs the probe as a one-trial experiment; returns the lines of its welcomes.txt.
local function probe_run(cfg, extra)
  local probe = H.write(H.tmpdir() .. "/probe.py", probe_src)
  local exp = H.experiment(H.exp_src {
    name = "welcome-env",
    cmd = '{ "python3", ' .. H.lit(probe) .. " }",
    config = cfg,
    extra = '  metric = "loss", mode = "min",\n' .. (extra or ""),
  })
  local dir = H.tmpdir() .. "/run"
  local r = H.run { exp, "--dir", dir, "--quiet" }
  assert.are.equal(0, r.code, H.describe(r))
  return H.lines(dir .. "/trials/00000/welcomes.txt")
end

describe("e2e: the engine's TUNELUA_WELCOME", function()
  teardown(H.cleanup)

  it("is the welcome the trial's hello gets, byte for byte, restore included", function()
    -- a pause makes the second process restore
    local lines = probe_run('{ lr = 0.5, layers = { 64, 32 }, name = "caf\\195\\169 \\"x\\"" }', [[
  stop = { training_iteration = 2 },
  scheduler = { name = "pause-once", on_result = function(self, t, r)
    if r.training_iteration == 1 and not self.done then self.done = true; return "pause" end
    return "continue"
  end },
]])
    assert.are.equal(4, #lines, table.concat(lines, "\n"))
    assert.are.equal(lines[1], lines[2])
    assert.are.equal(lines[3], lines[4])
    assert.are.equal(H.null, H.decode(lines[1]).restore)
    assert.is_string(H.decode(lines[3]).restore)
    assert.are.same({ 64, 32 }, H.decode(lines[3]).config.layers)
  end)

  it("is left out when the welcome is over 16 KiB; the hello still gets it", function()
    local lines = probe_run('{ blob = string.rep("x", 17000) }')
    assert.are.equal(2, #lines)
    assert.are.equal("", lines[1])
    assert.are.equal(17000, #H.decode(lines[2]).config.blob)
  end)
end)
