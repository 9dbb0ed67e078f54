-- End-to-end: the shell client (`tunelua params|report|restore|shared|checkpoint-dir|
-- checkpoint`, engine/report.c) run by hand, without TUNELUA_CONNECT, behaves like the
-- Python, C and Lua clients: the config from TUNELUA_PARAMS, reports printed (on stderr:
-- stdout is the decision) and always continued (docs/trainers.md, "Running a trainer by hand").
local H = require "spec.e2e.helpers"

local bindir = H.bin:match("^(.*)/[^/]+$")

-- Runs a shell command line by hand (no engine variables); returns code, stdout, stderr.
local function hand(cmdline, env)
  local d = H.tmpdir()
  local vars = ""
  for k, v in pairs(env or {}) do vars = vars .. k .. "=" .. H.quote(v) .. " " end
  local code = H.sh("cd " .. H.quote(d) .. " && env -u TUNELUA_CONNECT -u TUNELUA_TOKEN "
    .. "-u TUNELUA_TRIAL_ID -u TUNELUA_TRIAL_DIR PATH=" .. H.quote(bindir) .. ":\"$PATH\" "
    .. vars .. "sh -c " .. H.quote(cmdline) .. " >" .. d .. "/out 2>" .. d .. "/err")
  return code, H.read(d .. "/out"), H.read(d .. "/err"), d
end

describe("e2e: shell trainers run by hand", function()
  teardown(H.cleanup)

  it("examples/shell_trainer.sh runs with TUNELUA_PARAMS, printing each report", function()
    local code, out, err = hand("sh " .. H.quote(H.root .. "/examples/shell_trainer.sh"),
      { TUNELUA_PARAMS = '{"lr": 0.1, "momentum": 0.5, "steps": 7}' })
    assert.are.equal(0, code, err)
    local n, last = 0, nil
    for line in err:gmatch("[^\n]+") do
      local json = line:match("^%[tunelua%] report (.*)$")
      assert.is_truthy(json, line)
      n, last = n + 1, H.decode(json)
    end
    assert.are.equal(7, n)
    assert.are.equal(7, last.step)
    assert.are.equal("shell", last.trainer)
    assert.is_number(last.loss)
    assert.are.equal("", out)
  end)

  it("each command: params, report, restore, shared, checkpoint-dir, checkpoint", function()
    local env = { TUNELUA_PARAMS = '{"lr": 0.25, "net": {"layers": [64, 32]}, "opt": "adam"}' }
    local code, out, err = hand("tunelua params", env)
    assert.are.equal(0, code, err)
    assert.are.same(H.decode(env.TUNELUA_PARAMS), H.decode(out))
    code, out = hand("tunelua params net.layers.1", env)
    assert.are.same({ 0, "32\n" }, { code, out })
    code, out = hand("tunelua params opt", env)
    assert.are.same({ 0, "adam\n" }, { code, out })
    code, out, err = hand("tunelua params nope", env)
    assert.are.same({ 1, "" }, { code, out })
    assert.is_truthy(err:find("the config has no nope", 1, true), err)
    code, out, err = hand("tunelua report loss=0.5 note=hi ok=true", env)
    assert.are.same({ 0, "continue\n" }, { code, out })
    assert.are.same({ loss = 0.5, note = "hi", ok = true },
      H.decode(err:match("^%[tunelua%] report (.-)\n$")))
    code, out = hand("tunelua restore", env) -- a fresh start
    assert.are.same({ 1, "" }, { code, out })
    env.TUNELUA_RESTORE = "/ckpt/checkpoint_000003"
    env.TUNELUA_SHARED = '{"data": "/srv/data.bin"}'
    code, out = hand("tunelua restore", env)
    assert.are.same({ 0, "/ckpt/checkpoint_000003\n" }, { code, out })
    code, out = hand("tunelua shared data", env)
    assert.are.same({ 0, "/srv/data.bin\n" }, { code, out })
    local d
    code, out, err, d = hand("c=$(tunelua checkpoint-dir) && tunelua checkpoint \"$c\"", env)
    assert.are.equal(0, code, err)
    local real = H.capture("cd " .. H.quote(d) .. " && pwd -P"):gsub("\n$", "")
    assert.is_truthy(out:match("^" .. real:gsub("%p", "%%%0") .. "/checkpoints/tmp%-%d+%-1\n$"),
      out)
    assert.is_true(H.isdir(out:gsub("\n$", "")))
  end)

  it("without TUNELUA_PARAMS, or with a bad one, says how to run it", function()
    local code, out, err = hand("tunelua params")
    assert.are.same({ 1, "" }, { code, out })
    assert.is_truthy(err:find("by hand with the config as JSON in TUNELUA_PARAMS", 1, true), err)
    code, out, err = hand("tunelua report loss=1")
    assert.are.same({ 1, "" }, { code, out })
    assert.is_truthy(err:find("TUNELUA_PARAMS", 1, true), err)
    code, out, err = hand("tunelua params", { TUNELUA_PARAMS = "[1, 2]" })
    assert.are.same({ 1, "" }, { code, out })
    assert.is_truthy(err:find("TUNELUA_PARAMS must be a JSON object", 1, true), err)
    code, out, err = hand("tunelua shared x", { TUNELUA_PARAMS = "{}", TUNELUA_SHARED = "oops" })
    assert.are.same({ 1, "" }, { code, out })
    assert.is_truthy(err:find("TUNELUA_SHARED must be a JSON object", 1, true), err)
  end)
end)
