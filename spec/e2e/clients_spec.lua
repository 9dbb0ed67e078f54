-- End-to-end: the C, Lua and shell trainer clients (trainers/c/tunelua.h,
-- trainers/lua/tunelua.lua, the `tunelua params|restore|checkpoint-dir|checkpoint|shared`
-- commands) through their examples and the real engine.
--
-- The specs marked [checkpoints] need the engine's side of checkpoints (the `checkpoint`
-- message, restore after pause, checkpoint requests in decisions).
local H = require "spec.e2e.helpers"

-- The examples' trainer commands, as Lua source for trainer.cmd.
local cmds = {
  c = [[{ "sh", "-c", 'cc -O2 -Itrainers/c -o "$TUNELUA_TRIAL_DIR/c_trainer" '
    .. 'examples/c_trainer.c && exec "$TUNELUA_TRIAL_DIR/c_trainer"' }]],
  lua = '{ "luajit", "examples/lua_trainer.lua" }',
  shell = '{ "sh", "examples/shell_trainer.sh" }',
}

-- A scheduler, as Lua source, that pauses each trial once at iteration `at`.
local pauser = [[
  scheduler = (function()
    local paused = {}
    return { name = "pauser",
      on_result = function(_, t, r)
        if r.training_iteration == %d and not paused[t.id] then
          paused[t.id] = true
          return "pause"
        end
        return "continue"
      end }
  end)(),
]]

-- Runs one trial of an example; returns the run, its dir, the trial and its results.
local function run(client, extra, steps)
  steps = steps or 8
  local exp = H.experiment(H.exp_src {
    name = "clients-" .. client,
    cmd = cmds[client],
    config = ("{ lr = 0.05, momentum = 0.5, steps = %d }"):format(steps),
    extra = '  metric = "loss", mode = "min",\n' .. (extra or ""),
  })
  local dir = H.tmpdir() .. "/run"
  local r = H.run { exp, "--dir", dir, "--quiet" }
  local s = H.exists(dir .. "/summary.json") and H.summary(dir) or { trials = {} }
  local t = s.trials[1] or {}
  local results = t.id and H.jsonl(dir .. "/trials/" .. t.id .. "/result.jsonl") or {}
  return r, dir, t, results
end

local function field(results, key)
  local out = {}
  for i, res in ipairs(results) do out[i] = res[key] end
  return out
end

local function ls(path)
  local out = {}
  local p = io.popen("ls " .. H.quote(path) .. " 2>/dev/null")
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local function trial_file(dir, t, name)
  return H.read(dir .. "/trials/" .. t.id .. "/" .. name) or ""
end

for _, client in ipairs { "c", "lua", "shell" } do
  describe("e2e: the " .. client .. " client", function()
    teardown(H.cleanup)
    local plain

    it("reports every step to the end", function()
      local r, dir, t, results = run(client, "  stop = { training_iteration = 8 },\n")
      assert.are.equal(0, r.code, H.describe(r) .. trial_file(dir, t, "stderr.log"))
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(8, #results)
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, field(results, "step"))
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, field(results, "training_iteration"))
      assert.are.equal(client, results[1].trainer)
      assert.is_true(results[8].loss < results[1].loss)
      plain = field(results, "loss")
    end)

    it("ends when the engine stops it before the trainer's own end", function()
      local r, dir, t, results = run(client, "  stop = { training_iteration = 3 },\n", 50)
      assert.are.equal(0, r.code, H.describe(r) .. trial_file(dir, t, "stderr.log"))
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(3, #results)
      assert.are.equal(H.null, t.error)
    end)

    it("[checkpoints] saves a checkpoint when asked, keeping checkpoint.keep", function()
      local r, dir, t = run(client, [[
  stop = { training_iteration = 8 }, checkpoint = { every = 2, keep = 2 },
]])
      assert.are.equal(0, r.code, H.describe(r) .. trial_file(dir, t, "stderr.log"))
      assert.are.equal("TERMINATED", t.status)
      local names = ls(dir .. "/trials/" .. t.id .. "/checkpoints")
      assert.are.equal(2, #names, table.concat(names, " "))
      for _, n in ipairs(names) do
        assert.truthy(n:match("^checkpoint_%d%d%d%d%d%d$"), n)
        assert.are.equal(1, #ls(dir .. "/trials/" .. t.id .. "/checkpoints/" .. n))
      end
    end)

    it("[checkpoints] restores after a pause and continues the same curve", function()
      local r, dir, t, results = run(client, "  stop = { training_iteration = 8 },\n"
        .. pauser:format(3))
      assert.are.equal(0, r.code, H.describe(r) .. trial_file(dir, t, "stderr.log"))
      assert.are.equal("TERMINATED", t.status)
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, field(results, "step"))
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, field(results, "training_iteration"))
      if plain then assert.are.same(plain, field(results, "loss")) end
      local out = trial_file(dir, t, "stdout.log")
      assert.truthy(out:find("restored step 3 from " .. dir .. "/trials/" .. t.id
        .. "/checkpoints/checkpoint_000003", 1, true), out)
    end)

    it("[checkpoints] checkpoints on a stop that asks for one, then exits 0", function()
      local r, dir, t = run(client, [[
  stop = { training_iteration = 5 }, checkpoint = { at_end = true },
]], 50)
      assert.are.equal(0, r.code, H.describe(r) .. trial_file(dir, t, "stderr.log"))
      assert.are.equal("TERMINATED", t.status)
      assert.are.equal(5, t.iterations)
      assert.are.same({ "checkpoint_000005" }, ls(dir .. "/trials/" .. t.id .. "/checkpoints"))
      assert.are.equal("trials/" .. t.id .. "/checkpoints/checkpoint_000005", t.checkpoint)
    end)
  end)
end

describe("e2e: the C and Lua clients agree", function()
  teardown(H.cleanup)

  it("the same algorithm gives the same numbers through both clients", function()
    local _, _, _, c = run("c", "  stop = { training_iteration = 6 },\n")
    local _, _, _, l = run("lua", "  stop = { training_iteration = 6 },\n")
    assert.are.equal(6, #c)
    assert.are.same(field(c, "loss"), field(l, "loss"))
  end)
end)

describe("e2e: clients run by hand with TUNELUA_PARAMS", function()
  teardown(H.cleanup)
  local env = "env -u TUNELUA_CONNECT TUNELUA_PARAMS='{\"lr\":0.05,\"momentum\":0.5,\"steps\":2}' "

  it("C and Lua print each report and exit 0", function()
    local d = H.tmpdir()
    assert.are.equal(0, H.sh("cc -O2 -Itrainers/c -o " .. d .. "/ct examples/c_trainer.c"))
    local c = H.capture(env .. d .. "/ct")
    local l = H.capture(env .. "luajit examples/lua_trainer.lua")
    for _, out in ipairs { c, l } do
      local lines = H.lines(H.write(d .. "/out", out .. "\n"))
      assert.are.equal(2, #lines, out)
      assert.truthy(lines[2]:match('^%[tunelua%] report {.*"training_iteration":2}$'), out)
    end
    assert.are.equal(c:gsub('"trainer":"c"', ""), (l:gsub('"trainer":"lua"', "")))
  end)

  it("without TUNELUA_PARAMS they exit 1 and say how to run them", function()
    local d = H.tmpdir()
    assert.are.equal(0, H.sh("cc -O2 -Itrainers/c -o " .. d .. "/ct examples/c_trainer.c"))
    for _, cmd in ipairs { d .. "/ct", "luajit examples/lua_trainer.lua" } do
      local code = H.sh("env -u TUNELUA_CONNECT -u TUNELUA_PARAMS " .. cmd .. " 2>" .. d .. "/err")
      assert.are.equal(1, code)
      assert.truthy(H.read(d .. "/err"):find("TUNELUA_PARAMS", 1, true))
    end
  end)
end)

describe("e2e: the shell commands", function()
  teardown(H.cleanup)

  -- A trainer that records what each command prints and its exit status.
  local script = [[
log="$TUNELUA_TRIAL_DIR/cmds.log"
run() { out=$("$@" 2>"$TUNELUA_TRIAL_DIR/last.err"); echo "$? $out" >> "$log"; }
run tunelua params
run tunelua params optim.lr
run tunelua params optim.name
run tunelua params layers.1
run tunelua params nothing.here
run tunelua restore
run tunelua params a b
d=$(tunelua checkpoint-dir); echo "${d#$TUNELUA_TRIAL_DIR/}" >> "$log"
echo hi > "$d/f"
run tunelua report loss=1
run tunelua checkpoint "$d"
tunelua checkpoint /tmp    # refused: the engine fails the trial (and ends this script)
exit 0
]]

  it("params, restore, checkpoint-dir and checkpoint print what the protocol says", function()
    local d = H.tmpdir()
    H.write(d .. "/cmds.sh", script)
    local exp = H.experiment(H.exp_src {
      name = "clients-shell-cmds",
      cmd = '{ "sh", ' .. H.lit(d .. "/cmds.sh") .. " }",
      config = '{ optim = { lr = 0.5, name = "sgd" }, layers = { 16, 32 } }',
    })
    local dir = d .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(1, r.code, H.describe(r)) -- the refused checkpoint fails the trial
    local t = H.summary(dir).trials[1]
    local log = H.lines(dir .. "/trials/" .. t.id .. "/cmds.log")
    local cfg = H.decode(log[1]:match("^0 (.*)$"))
    assert.are.equal(0.5, cfg.optim.lr)
    assert.are.same({ 16, 32 }, cfg.layers)
    assert.are.equal("0 0.5", log[2])
    assert.are.equal("0 sgd", log[3])
    assert.are.equal("0 32", log[4])
    assert.are.equal("1 ", log[5])
    assert.are.equal("1 ", log[6])
    assert.are.equal("2 ", log[7])
    assert.truthy(log[8]:match("^checkpoints/tmp%-%d+%-1$"), log[8])
    assert.are.equal("0 continue", log[9])
    -- [checkpoints] the engine records the directory and answers its final path
    assert.are.equal("0 " .. dir .. "/trials/" .. t.id .. "/checkpoints/checkpoint_000001", log[10])
    assert.are.equal("hi\n", H.read(dir .. "/trials/" .. t.id
      .. "/checkpoints/checkpoint_000001/f"))
    -- [checkpoints] a directory outside the trial's is refused and fails the trial
    assert.are.equal("ERROR", t.status)
    assert.truthy(t.error:find("outside the trial's directory", 1, true), t.error)
  end)

  it("exit 1 outside an engine, 2 on usage errors", function()
    local d = H.tmpdir()
    local unset = "env -u TUNELUA_CONNECT -u TUNELUA_TOKEN -u TUNELUA_TRIAL_ID "
      .. "-u TUNELUA_TRIAL_DIR "
    assert.are.equal(1, H.sh(unset .. H.quote(H.bin) .. " params"))
    assert.are.equal(1, H.sh(unset .. H.quote(H.bin) .. " restore"))
    assert.are.equal(1, H.sh(unset .. H.quote(H.bin) .. " checkpoint-dir"))
    assert.are.equal(1, H.sh(unset .. H.quote(H.bin) .. " checkpoint " .. d))
    assert.are.equal(1, H.sh(unset .. H.quote(H.bin) .. " shared x"))
    assert.are.equal(2, H.sh(unset .. H.quote(H.bin) .. " shared"))
    assert.are.equal(2, H.sh(unset .. H.quote(H.bin) .. " checkpoint"))
    assert.are.equal(2, H.sh(unset .. H.quote(H.bin) .. " checkpoint-dir x"))
    assert.are.equal(0, H.sh("TUNELUA_TRIAL_DIR=" .. d .. " " .. H.quote(H.bin)
      .. " checkpoint-dir"))
    assert.is_true(H.isdir(d .. "/checkpoints"))
  end)
end)
