-- End-to-end: the command line and what it prints.
local H = require "spec.e2e.helpers"

local function small_exp(name)
  return H.experiment(H.exp_src {
    name = name or "e2e-cli",
    cmd = H.sh_trainer("cfgsteps.sh", "3", "0.3"),
    config = "{ x = tune.uniform(0, 1) }",
    extra = [[  num_samples = 2, metric = "loss", mode = "min",]],
  })
end

local function nonblank_lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do
    if line:match("%S") then out[#out + 1] = line end
  end
  return out
end

describe("e2e: tunelua --help and --version", function()
  teardown(H.cleanup)

  it("--help exits 0 and mentions run and report", function()
    local r = H.run { "--help" }
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_truthy(r.stdout:find("run", 1, true), r.stdout)
    assert.is_truthy(r.stdout:find("report", 1, true), r.stdout)
    assert.is_truthy(r.stdout:find("--dir", 1, true), r.stdout)
  end)

  it("--version prints the version and exits 0", function()
    local r = H.run { "--version" }
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_truthy(r.stdout:match("^tunelua %d+%.%d+%.%d+"), r.stdout)
    local tune = require "tunelua"
    assert.is_truthy(r.stdout:find(tune.version, 1, true), "the binary and lua/ agree")
  end)

  it("no arguments: usage on stderr, exit 2", function()
    local r = H.run {}
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("usage", 1, true), r.stderr)
  end)
end)

describe("e2e: output modes", function()
  teardown(H.cleanup)

  it("--json prints only JSON lines, the last one ev = end", function()
    local dir = H.tmpdir() .. "/run"
    local r = H.run { small_exp(), "--dir", dir, "--json", "--cpus", "1" }
    assert.are.equal(0, r.code, H.describe(r))
    local lines = nonblank_lines(r.stdout)
    assert.is_true(#lines >= 2, "expected progress and end lines:\n" .. r.stdout)
    local last
    for _, line in ipairs(lines) do
      local ok, v = pcall(H.decode, line)
      assert.is_true(ok and type(v) == "table", "not a JSON object: " .. line)
      assert.are.equal("string", type(v.ev), line)
      last = v
    end
    assert.are.equal("end", last.ev)
    assert.are.equal("done", last.status)
    local s = H.summary(dir)
    assert.are.equal(s.best_trial, last.best_trial)
    assert.is_truthy(last.dir and last.dir:find(dir, 1, true), tostring(last.dir))
  end)

  it("--quiet prints at most the best trial and the results path", function()
    local dir = H.tmpdir() .. "/run"
    local r = H.run { small_exp(), "--dir", dir, "--quiet", "--cpus", "2" }
    assert.are.equal(0, r.code, H.describe(r))
    local lines = nonblank_lines(r.stdout)
    assert.is_true(#lines <= 2, "too much output:\n" .. r.stdout)
    local best = H.summary(dir).best_trial
    local saw_path = false
    for _, line in ipairs(lines) do
      if line:find(dir, 1, true) then
        saw_path = true
      else
        assert.is_truthy(line:find("Best trial " .. best, 1, true), line)
      end
    end
    assert.is_true(saw_path, "no results path:\n" .. r.stdout)
  end)

  it("the default output ends with the best trial and the results path", function()
    local dir = H.tmpdir() .. "/run"
    local r = H.run { small_exp(), "--dir", dir, "--cpus", "2" }
    assert.are.equal(0, r.code, H.describe(r))
    local best = H.summary(dir).best_trial
    assert.is_truthy(r.stdout:find("Best trial " .. best, 1, true), r.stdout)
    local lines = nonblank_lines(r.stdout)
    assert.is_truthy(lines[#lines]:find(dir, 1, true), lines[#lines])
  end)
end)

describe("e2e: tunelua run and --dir", function()
  teardown(H.cleanup)

  it("`tunelua run EXP` is the same as `tunelua EXP`", function()
    local dir = H.tmpdir() .. "/run"
    local r = H.run { "run", small_exp(), "--dir", dir, "--quiet", "--cpus", "2" }
    assert.are.equal(0, r.code, H.describe(r))
    assert.are.equal("done", H.summary(dir).status)
  end)

  it("without --dir writes ./tunelua_runs/<name>-<timestamp>", function()
    local cwd = H.tmpdir()
    local exp = small_exp("e2e-default-dir")
    local r = H.run({ exp, "--quiet", "--cpus", "2" }, { cwd = cwd })
    assert.are.equal(0, r.code, H.describe(r))
    local found = H.capture("ls -d " .. H.quote(cwd) .. "/tunelua_runs/e2e-default-dir-* "
      .. "2>/dev/null")
    assert.are_not.equal("", found, "no tunelua_runs/e2e-default-dir-* in " .. cwd)
    local dirs = nonblank_lines(found)
    assert.are.equal(1, #dirs)
    assert.are.equal("done", H.summary(dirs[1]).status)
  end)

  -- A misspelt name gets one line that says what would do, not Lua's module search path.
  for _, c in ipairs { { "--scheduler", "ashaa", "unknown scheduler 'ashaa' (built-in: fifo, " },
    { "--searcher", "tpee", "unknown searcher 'tpee' (built-in: random, grid, " } } do
    it(c[1] .. " with an unknown name: exit 2, one line naming it and the built-ins", function()
      local r = H.run { small_exp(), c[1], c[2], "--dir", H.tmpdir() .. "/run", "--quiet" }
      assert.are.equal(2, r.code, H.describe(r))
      assert.is_truthy(r.stderr:find("tunelua: " .. c[3], 1, true), r.stderr)
      assert.is_falsy(r.stderr:find("no file", 1, true), r.stderr)
      assert.are.equal(1, #nonblank_lines(r.stderr), r.stderr)
    end)
  end

  -- A searcher named as the scheduler (TPE has on_result, so it would run as a scheduler
  -- that never stops anything) or a scheduler as the searcher: exit 2 before any trial.
  for _, c in ipairs {
    { "--scheduler", "tpe", "'tpe' is a searcher, not a scheduler (a searcher goes in " },
    { "--searcher", "asha", "'asha' is not a searcher (it has no suggest)" },
  } do
    it(c[1] .. " " .. c[2] .. ": exit 2, saying what it is", function()
      local dir = H.tmpdir() .. "/run"
      local r = H.run { small_exp(), c[1], c[2], "--dir", dir, "--quiet" }
      assert.are.equal(2, r.code, H.describe(r))
      assert.is_truthy(r.stderr:find("tunelua: " .. c[3], 1, true), r.stderr)
      assert.is_false(H.exists(dir .. "/journal.jsonl"))
    end)
  end

  -- PBT cannot be built without options: the message says where options go.
  it("--scheduler pbt: exit 2, the constructor's error and how to give it options", function()
    local r = H.run { small_exp(), "--scheduler", "pbt", "--dir", H.tmpdir() .. "/run" }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("pbt: give hyperparam_mutations", 1, true), r.stderr)
    assert.is_truthy(r.stderr:find("schedulers = { pbt = tune.schedulers.pbt { ... } }", 1,
      true), r.stderr)
  end)

  it("refuses a --dir that already holds an experiment, leaving it alone", function()
    local dir = H.tmpdir() .. "/run"
    local exp = small_exp()
    local r1 = H.run { exp, "--dir", dir, "--quiet", "--cpus", "2" }
    assert.are.equal(0, r1.code, H.describe(r1))
    local before = H.read(dir .. "/journal.jsonl")
    local r2 = H.run { exp, "--dir", dir, "--quiet", "--cpus", "2" }
    assert.are.equal(2, r2.code, H.describe(r2))
    assert.is_truthy(r2.stderr:find(dir, 1, true), r2.stderr)
    assert.are.equal(before, H.read(dir .. "/journal.jsonl"))
  end)
end)
