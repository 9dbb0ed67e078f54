-- End-to-end: a connection that never sends its hello (engine/proto.c) is closed after
-- TL_HELLO_TIMEOUT_S (here TUNELUA_HELLO_TIMEOUT_S=1) with an error line; the trials go on.
local H = require "spec.e2e.helpers"

describe("e2e: a connection without a hello", function()
  teardown(H.cleanup)

  it("is closed after the hello timeout; the engine runs its trials on", function()
    local quiet = H.tmpdir() .. "/quiet.py"
    H.write(quiet, [[
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["TUNELUA_CONNECT"][len("unix:"):])
s.settimeout(6)
t0, data = time.time(), b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    what = "closed"
except socket.timeout:
    what = "open"
with open(sys.argv[1], "w") as f:
    f.write("%s %.2f %s" % (what, time.time() - t0, data.decode()))
]])
    local out = H.tmpdir() .. "/quiet.out"
    local exp = H.experiment(H.exp_src {
      name = "hello-timeout",
      -- trial 0 first holds a raw connection that says nothing, then reports as usual
      cmd = '{ "sh", "-c", "[ \\"$TUNELUA_TRIAL_ID\\" = 00000 ] && python3 ' .. quiet .. " "
        .. out .. '; exec sh ' .. H.trainers .. '/steps.sh 3 0.2" }',
      extra = "  num_samples = 2, metric = 'loss', mode = 'min',",
    })
    local dir = H.tmpdir() .. "/run"
    local r = H.run({ exp, "--dir", dir, "--cpus", "2", "--quiet" },
      { env = { TUNELUA_HELLO_TIMEOUT_S = "1" } })
    assert.are.equal(0, r.code, H.describe(r))
    local got = H.read(out)
    assert.is_truthy(got, "the quiet client wrote nothing")
    local what, secs, msg = got:match("^(%S+) (%S+) (.*)$")
    assert.are.equal("closed", what, got)
    assert.is_true(tonumber(secs) >= 0.9 and tonumber(secs) < 3, got)
    assert.are.same({ type = "error", message = "no hello within 1 s" }, H.decode(msg))
    local s = H.summary(dir)
    assert.are.equal(2, s.counts.TERMINATED)
    for _, t in ipairs(s.trials) do assert.are.equal(3, t.iterations) end
  end)
end)
