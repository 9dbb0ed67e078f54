-- tune.slurm { ... } and --executor slurm / --address without a cluster: the settings are
-- checked when the experiment loads, and a mistake is exit status 2 with the file and line.
local H = require "spec.e2e.helpers"
local slurm = require "tunelua.slurm"

describe("tune.slurm settings", function()
  it("accepts the documented fields and turns them into srun arguments", function()
    local s = assert(slurm.check { partition = "gpu", account = "p-42", qos = "normal",
      time = "1-02:00", extra_args = { "--constraint=a100", 7 }, address = "10.0.0.5:7077" })
    assert.are.same({ "--partition=gpu", "--account=p-42", "--qos=normal", "--time=1-02:00",
      "--constraint=a100", "7" }, slurm.args(s))
    assert.are.same({ "--time=90" }, slurm.args(assert(slurm.check { time = 90 })))
    assert.are.same({}, slurm.args(assert(slurm.check {})))
  end)

  it("names the field that is wrong", function()
    local cases = {
      { { partion = "gpu" }, "unknown field 'tune.slurm.partion'" },
      { { partition = "a b" }, "tune.slurm.partition must be a name" },
      { { account = 3 }, "tune.slurm.account must be a name" },
      { { time = "soon" }, "tune.slurm.time must be minutes or a Slurm time" },
      { { time = 1.5 }, "tune.slurm.time must be minutes" },
      { { time = "10:99:00:00" }, "tune.slurm.time" },
      { { extra_args = "--exclusive" }, "tune.slurm.extra_args must be a list" },
      { { extra_args = { x = 1 } }, "tune.slurm.extra_args must be a list" },
      { { extra_args = { {} } }, "tune.slurm.extra_args[1] must be a string" },
      { { address = "" }, "tune.slurm.address must be" },
      { { address = "host:99999" }, "a port from 1 to 65535" },
      { { address = "a b" }, "tune.slurm.address must be" },
    }
    for _, c in ipairs(cases) do
      local s, why = slurm.check(c[1])
      assert.is_nil(s)
      assert.truthy(why:find(c[2], 1, true), why)
    end
    assert.has_error(function() slurm.new "x" end)
  end)

  it("parses HOST, HOST:PORT and [V6]:PORT", function()
    assert.are.same({ "node-1.cluster" }, { slurm.parse_address("node-1.cluster") })
    assert.are.same({ "10.0.0.5", 7077 }, { slurm.parse_address("10.0.0.5:7077") })
    assert.are.same({ "::1", 7000 }, { slurm.parse_address("[::1]:7000") })
  end)
end)

describe("slurm executor, bad input", function()
  after_each(H.cleanup)

  local function exp(executor, extra)
    return H.experiment(string.format([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "true" }%s },
  executor = %s,
}
]], extra or "", executor))
  end

  it("reports a bad tune.slurm field with the file and line, exit 2", function()
    local path = exp('tune.slurm { time = "soon" }')
    local r = H.run({ path, "--dir", H.tmpdir() .. "/run" })
    assert.are.equal(2, r.code, H.describe(r))
    assert.truthy(r.stderr:find(path .. ":4: tune.slurm.time must be minutes", 1, true),
      H.describe(r))
  end)

  it("reports an unknown executor name", function()
    local path = exp('"kubernetes"')
    local r = H.run({ path, "--dir", H.tmpdir() .. "/run" })
    assert.are.equal(2, r.code)
    assert.truthy(r.stderr:find('executor must be "local", "simulate", "slurm" or tune.slurm',
      1, true), H.describe(r))
  end)

  it("refuses --address without the slurm executor, and a malformed one", function()
    local path = exp('"local"')
    local r = H.run({ path, "--dir", H.tmpdir() .. "/run", "--address", "10.0.0.1" })
    assert.are.equal(2, r.code)
    assert.truthy(r.stderr:find("--address is for the slurm executor", 1, true), H.describe(r))
    r = H.run({ path, "--dir", H.tmpdir() .. "/run", "--executor", "slurm", "--address", "a b" })
    assert.are.equal(2, r.code)
    assert.truthy(r.stderr:find("--address must be", 1, true), H.describe(r))
  end)

  it("fails a local trial that asks for several nodes, naming the slurm executor", function()
    local path = exp('"local"', ", resources = { nodes = 2 }")
    local dir = H.tmpdir() .. "/run"
    local r = H.run({ path, "--dir", dir, "--quiet" })
    assert.are.equal(1, r.code, H.describe(r))
    local t = H.summary(dir).trials[1]
    assert.are.equal("ERROR", t.status)
    assert.truthy(t.error:find("nodes=2: trials spanning nodes need the slurm executor", 1, true))
  end)

  it("explains a missing srun", function()
    local path = exp('"slurm"')
    local r = H.run({ path, "--dir", H.tmpdir() .. "/run" }, { env = { PATH = "/nonexistent" } })
    assert.are.equal(2, r.code, H.describe(r))
    assert.truthy(r.stderr:find("needs Slurm's srun in PATH", 1, true), H.describe(r))
  end)
end)
