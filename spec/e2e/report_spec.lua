-- End-to-end: `tunelua report KEY=VALUE ...` for shell trainers.
local H = require "spec.e2e.helpers"

local function unset_env()
  return "env -u TUNELUA_CONNECT -u TUNELUA_TOKEN -u TUNELUA_TRIAL_ID -u TUNELUA_TRIAL_DIR"
end

describe("e2e: tunelua report outside an engine", function()
  teardown(H.cleanup)

  it("fails with a message that says to run it from a trainer", function()
    local d = H.tmpdir()
    local code = H.sh(string.format("cd %s && %s %s report loss=1 >%s/out 2>%s/err",
      H.quote(d), unset_env(), H.quote(H.bin), d, d))
    assert.are_not.equal(0, code)
    assert.are_not.equal(3, code)
    local err = H.read(d .. "/err")
    assert.is_truthy(err:find("TUNELUA_CONNECT", 1, true) or err:find("trainer", 1, true), err)
    assert.are.equal("", H.read(d .. "/out"))
  end)

  it("fails when the engine's socket is not there", function()
    local d = H.tmpdir()
    local code = H.sh(string.format("cd %s && TUNELUA_CONNECT=unix:%s/nosock TUNELUA_TOKEN=t "
      .. "TUNELUA_TRIAL_ID=00000 %s report loss=1 >%s/out 2>%s/err", H.quote(d), d,
      H.quote(H.bin), d, d))
    assert.are.equal(1, code)
    assert.are_not.equal("", H.read(d .. "/err"))
  end)
end)

describe("e2e: tunelua report inside a shell trainer", function()
  local r, dir, trial, results, log
  setup(function()
    local exp = H.experiment(H.exp_src {
      name = "e2e-report",
      cmd = H.sh_trainer("values.sh"),
      extra = [[  metric = "x", mode = "max", stop = { training_iteration = 2 },]],
    })
    dir = H.tmpdir() .. "/run"
    r = H.run { exp, "--dir", dir }
    trial = H.summary(dir).trials[1]
    results = H.jsonl(dir .. "/trials/" .. trial.id .. "/result.jsonl")
    log = H.lines(dir .. "/trials/" .. trial.id .. "/report.log")
  end)
  teardown(H.cleanup)

  it("runs to the end", function()
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.equal("TERMINATED", trial.status)
    assert.are.equal(2, #results)
  end)

  it("parses numbers, booleans and null as JSON, the rest as strings", function()
    local res = results[1]
    assert.are.equal(1.5, res.x)
    assert.are.equal(true, res.ok)
    assert.are.equal(false, res.no)
    assert.are.equal("abc", res.name)
    assert.are.equal(4, res.step)
    assert.are.equal(0.001, res.lr)
    assert.are.equal("run-a", res.tag)
    assert.are.equal(-2, res.neg)
    assert.are.equal("hello world", res.msg)
    -- null: present in the JSON line as null
    local line = H.lines(dir .. "/trials/" .. trial.id .. "/result.jsonl")[1]
    assert.is_truthy(line:find('"n":null', 1, true), line)
  end)

  it("keeps the last value of a key given twice", function()
    assert.are.equal(2, results[1].k)
  end)

  it("prints the action and exits 0 on continue, 3 on stop", function()
    assert.are.equal("0 continue", log[1])
    assert.are.equal("3 stop", log[2])
  end)

  it("exits 2, a command-line error, for an argument without = (docs/protocol.md)", function()
    assert.are.equal("2 noeq", log[3])
    local err = H.read(dir .. "/trials/" .. trial.id .. "/noeq.err")
    assert.is_truthy(err:find("novalue", 1, true), err)
  end)

  it("tracks the metric given by report", function()
    assert.are.equal(2.5, trial.last_result.x)
    assert.are.equal(2.5, trial.best_result.x)
    assert.are.equal(trial.id, H.summary(dir).best_trial)
  end)
end)
