-- End-to-end: Ctrl-C and SIGTERM stop the experiment resumably (exit 3).
local H = require "spec.e2e.helpers"

local function running_count(dir)
  local n = H.running(dir, 1)
  return n and n >= 2 and n or nil
end

for _, sig in ipairs { "INT", "TERM" } do
  describe("e2e: SIG" .. sig .. " during a run", function()
    local marker, h, dir, code, took, before
    setup(function()
      marker = H.marker("tlsig")
      -- 100 reports 0.2 s apart: these trials would run for 20 s
      local exp = H.experiment(H.exp_src {
        name = "e2e-sig",
        cmd = H.sh_trainer("steps.sh", "100", "0.2", marker),
        extra = [[  num_samples = 4, metric = "loss", mode = "min",]],
      })
      dir = H.tmpdir() .. "/run"
      h = H.spawn({ exp, "--dir", dir, "--cpus", "2" })
      assert.is_truthy(H.wait_for(function() return running_count(dir) end, 15),
        "no trial was RUNNING with a result in summary.json")
      before = #H.pgrep(marker)
      local t0 = H.now()
      h.kill(sig)
      code = h.wait(15)
      took = H.now() - t0
    end)
    teardown(function()
      if not code and h then h.kill("KILL") end
      H.reap(marker)
      H.cleanup()
    end)

    it("exits 3 within a few seconds", function()
      assert.are.equal(3, code, "exit code " .. tostring(code) .. "; stderr: "
        .. tostring(H.read(h.stderr)))
      assert.is_true(took < 5, "took " .. took .. " s")
    end)

    it("leaves summary.json with status interrupted and the running trials PAUSED", function()
      local s = H.summary(dir)
      assert.are.equal("interrupted", s.status)
      -- trials may be added lazily (as resources free up), so 2 to 4 exist here
      assert.is_true(#s.trials >= 2 and #s.trials <= 4)
      local paused = 0
      for _, t in ipairs(s.trials) do
        assert.is_truthy(t.status == "PAUSED" or t.status == "PENDING", t.id .. " " .. t.status)
        assert.are_not.equal("RUNNING", t.status)
        if t.status == "PAUSED" then
          paused = paused + 1
          assert.is_true(t.iterations >= 1)
          assert.are.equal(0, t.failures)
        end
      end
      assert.are.equal(2, paused)
      for _, t in ipairs(s.trials) do
        if t.iterations >= 1 then assert.are.equal("PAUSED", t.status, t.id) end
      end
    end)

    it("leaves no trainer process behind", function()
      assert.is_true(before >= 2, "pgrep found " .. before .. " trainers while they ran")
      local left = H.wait_for(function() return #H.pgrep(marker) == 0 end, 2)
      assert.is_truthy(left, "trainer processes left: " .. table.concat(H.pgrep(marker), " "))
    end)

    it("journals the end of the experiment as interrupted", function()
      local journal = H.journal(dir)
      local last = journal[#journal]
      assert.are.equal("experiment_end", last.ev)
      assert.are.equal("interrupted", last.status)
    end)
  end)
end
