-- Reproducibility: with --executor simulate and a seed, two runs of an experiment write the
-- same journal, line for line, apart from the wall-clock fields ("t", result.timestamp);
-- for every built-in scheduler and searcher. And with the local executor, deterministic
-- trainers and one trial at a time, the same decisions.
local H = require "spec.e2e.helpers"
local A = require "spec.e2e.algos"

local function run(path, dir, seed, extra)
  local args = { path, "--dir", dir, "--seed", tostring(seed), "--quiet", "--cpus", "8" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local r = H.run(args)
  assert.are.equal(0, r.code, H.describe(r))
  return r
end

describe("reproducible runs", function()
  teardown(H.cleanup)

  for _, c in ipairs(A.combos) do
    it("simulate, seed 3, " .. c[1] .. ": two runs write the same journal", function()
      local path = H.experiment(A.src(c[2], c[3]))
      local a, b = H.tmpdir() .. "/a", H.tmpdir() .. "/b"
      run(path, a, 3)
      run(path, b, 3)
      local ja, jb = A.journal(a), A.journal(b)
      assert.is_nil(A.first_difference(ja, jb))
      assert.is_true(#ja > 50, #ja)
      -- the seed matters: another one gives other configurations
      local d = H.tmpdir() .. "/d"
      run(path, d, 4)
      assert.is_not_nil(A.first_difference(ja, A.journal(d)))
    end)
  end

  -- Real processes finish in an order the OS decides; one trial at a time takes that away,
  -- and a trainer whose reports depend only on its config and step leaves only the timing
  -- fields different. Decisions of schedulers that read result times (time_total_s) would
  -- not be reproducible: ASHA here reads training_iteration.
  it("local executor, one trial at a time: the same trials, results and decisions", function()
    local src = H.exp_src {
      cmd = H.sh_trainer("cfgsteps.sh", "6"),
      config = "{ x = tune.uniform(0, 1) }",
      extra = "  num_samples = 6, metric = 'loss', mode = 'min', max_concurrent = 1,\n" ..
        "  scheduler = tune.schedulers.asha { max_t = 6, grace_period = 1, " ..
        "reduction_factor = 2 },",
    }
    local path = H.experiment(src)
    local function outcome(dir)
      local out = {}
      for _, e in ipairs(H.journal(dir)) do
        if e.ev == "trial_added" then
          out[#out + 1] = "add " .. e.trial .. " " .. string.format("%.17g", e.config.x)
        elseif e.ev == "result" then
          out[#out + 1] = "result " .. e.trial .. " " .. e.result.training_iteration .. " " ..
            tostring(e.result.loss)
        elseif e.ev == "decision" or e.ev == "status" then
          out[#out + 1] = e.ev .. " " .. e.trial .. " " .. tostring(e.action or e.status) ..
            " " .. tostring(e.iteration)
        elseif e.ev == "started" then
          out[#out + 1] = "start " .. e.trial
        end
      end
      return out
    end
    local a, b = H.tmpdir() .. "/a", H.tmpdir() .. "/b"
    run(path, a, 11)
    run(path, b, 11)
    local oa, ob = outcome(a), outcome(b)
    assert.are.same(oa, ob)
    local stops = 0
    for _, l in ipairs(oa) do if l:match("^decision .* stop") then stops = stops + 1 end end
    assert.is_true(stops >= 2, table.concat(oa, "\n"))
  end)
end)
