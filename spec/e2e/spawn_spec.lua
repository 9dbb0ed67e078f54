-- End-to-end: how trials are started (engine/spawn.c: posix_spawn; uv_spawn for the rest).
local H = require "spec.e2e.helpers"

describe("e2e: spawning trainers", function()
  teardown(H.cleanup)

  it("runs a script without #! through sh, as execvp does", function()
    local d = H.tmpdir()
    H.write(d .. "/t.sh", "tunelua report loss=1 >/dev/null\n")
    os.execute("chmod +x " .. H.quote(d .. "/t.sh"))
    local exp = H.experiment([[
local tune = require "tunelua"
return tune.experiment { trainer = { cmd = { "]] .. d .. [[/t.sh" } }, num_samples = 2,
  metric = "loss", mode = "min" }]])
    local r = H.run { exp, "--dir", d .. "/run", "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    for _, t in ipairs(H.summary(d .. "/run").trials) do
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(1, t.iterations)
    end
  end)

  it("finds the trainer on the trial's PATH; own session, default signals", function()
    local d = H.tmpdir()
    os.execute("mkdir -p " .. H.quote(d .. "/bin"))
    H.write(d .. "/bin/mytrainer", [[#!/bin/sh
# session leader (own process group), SIGPIPE not ignored, SIGINT not blocked
sid=$(ps -o sid= -p $$ | tr -d ' ')
sigign=$(awk '/^SigIgn/ {print $2}' /proc/$$/status)
sigblk=$(awk '/^SigBlk/ {print $2}' /proc/$$/status)
"$TUNELUA_BIN_FOR_SPEC" report sid_is_self=$([ "$sid" = "$$" ] && echo 1 || echo 0) \
  pipe_ignored=$(( 0x$sigign >> 12 & 1 )) blocked=$(( 0x$sigblk != 0 )) > /dev/null
]])
    os.execute("chmod +x " .. H.quote(d .. "/bin/mytrainer"))
    local exp = H.experiment([[
local tune = require "tunelua"
return tune.experiment { trainer = { cmd = { "mytrainer" },
  env = { PATH = "]] .. d .. [[/bin:" .. os.getenv("PATH"),
          TUNELUA_BIN_FOR_SPEC = "]] .. H.bin .. [[" } } }]])
    local r = H.run { exp, "--dir", d .. "/run", "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local res = H.summary(d .. "/run").trials[1].last_result
    assert.are.equal(1, res.sid_is_self)
    assert.are.equal(0, res.pipe_ignored)
    assert.are.equal(0, res.blocked)
  end)

  it("says which command is missing", function()
    local exp, d = H.experiment([[
local tune = require "tunelua"
return tune.experiment { trainer = { cmd = { "no-such-trainer-xyz" } } }]])
    local r = H.run { exp, "--dir", d .. "/run", "--quiet" }
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(d .. "/run").trials[1]
    assert.are.equal("ERROR", t.status)
    assert.truthy(t.error:find("trainer command not found: no-such-trainer-xyz", 1, true), t.error)
  end)
end)
