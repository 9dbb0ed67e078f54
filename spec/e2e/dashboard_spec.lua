-- End-to-end: `tunelua run ... --dashboard` serves the report live from the running engine;
-- headless Chromium loads it during the run; a hostile or careless client gets an error
-- status and the engine keeps serving; a non-loopback bind needs the token.
local H = require "spec.e2e.helpers"
local B = require "spec.e2e.browser"

-- Slow trainers (steps.sh: `n` reports `pause` s apart) so that the run outlives the checks.
local function slow_exp(n, pause)
  return H.experiment(H.exp_src {
    name = "e2e-dash",
    cmd = H.sh_trainer("steps.sh", tostring(n), tostring(pause)),
    config = "{ lr = tune.loguniform(1e-4, 1e-1), opt = tune.choice { 'sgd', 'adam' } }",
    extra = "  num_samples = 2, metric = 'loss', mode = 'min', max_concurrent = 2,",
  })
end

local function url_of(dir)
  return H.wait_for(function()
    local s = H.read(dir .. "/dashboard.url")
    return s and s:match("^(http://%S+)\n$")
  end, 15)
end

local function probe(port, token)
  local out = H.capture(string.format("python3 %s 127.0.0.1 %d %s",
    H.quote(H.trainers .. "/http_probe.py"), port, token or ""))
  return H.decode(out)
end

describe("e2e: the live dashboard", function()
  teardown(H.cleanup)

  it("serves the page and data.json on 127.0.0.1 while the run goes on; Chromium draws the curves",
    function()
      local dir = H.tmpdir() .. "/run"
      local h = H.spawn { slow_exp(30, 0.3), "--dir", dir, "--quiet", "--cpus", "2",
        "--dashboard", "127.0.0.1:0" }
      local url = url_of(dir)
      assert.is_truthy(url, "no dashboard.url")
      local port = tonumber(url:match("^http://127%.0%.0%.1:(%d+)/$"))
      assert.is_truthy(port and port > 0, url)
      -- both trials have reported (the summary is flushed every second)
      assert.is_truthy(H.wait_for(function()
        local s = H.summary(dir)
        return #s.trials == 2 and s.trials[1].iterations > 1 and s.trials[2].iterations > 1
      end, 20))
      local got = probe(port)
      got.after_slow_s_ = got.after_slow_s
      got.after_slow_s = nil
      assert.are.same({ page = 200, data = 200, head = 200, not_found = 404, post = 405,
        garbage = 400, http09 = 400, too_large = 431, no_token = 200, bad_token = 200,
        after_slow = 200, after_all = 200, after_slow_s_ = got.after_slow_s_ }, got)
      assert.is_true(got.after_slow_s_ < 2)
      local data = H.decode(H.capture("python3 -c 'import sys, urllib.request; "
        .. "print(urllib.request.urlopen(sys.argv[1]).read().decode())' "
        .. H.quote(url .. "data.json")))
      assert.is_true(data.live)
      assert.are.equal(2, #data.trials)
      if B.bin then
        local dom = B.dom(url, 4000)
        local n, text = B.errors(dom)
        assert.are.equal(0, n, text)
        assert.are.equal(2, B.curves(dom))
        -- it polled data.json on its own
        assert.is_true(tonumber(dom:match('data%-refreshes="(%d+)"')) >= 1)
      end
      local code = h.wait(60)
      assert.are.equal(0, code, H.read(h.stderr))
      assert.is_truthy(H.read(h.stderr):find("dashboard at " .. url, 1, true))
      assert.is_falsy(H.exists(dir .. "/dashboard.url")) -- gone with the engine
      if not B.bin then pending(B.missing) end
    end)

  it("on a non-loopback address answers 403 without the token, 200 with it", function()
    local dir = H.tmpdir() .. "/run"
    local h = H.spawn { slow_exp(12, 0.3), "--dir", dir, "--quiet", "--cpus", "2",
      "--dashboard", "0.0.0.0:0" }
    local url = url_of(dir)
    assert.is_truthy(url, "no dashboard.url")
    local port, token = url:match(":(%d+)/%?token=(%x+)$")
    assert.is_truthy(token and #token == 32, url)
    assert.are.equal("-rw-------", H.capture("stat -c %A " .. H.quote(dir .. "/dashboard.url")))
    local without = probe(tonumber(port))
    assert.are.equal(403, without.page)
    assert.are.equal(403, without.data)
    assert.are.equal(403, without.bad_token)
    local with = probe(tonumber(port), token)
    assert.are.equal(200, with.page)
    assert.are.equal(200, with.data)
    if B.bin then
      local page = "http://127.0.0.1:" .. port .. "/?token=" .. token
      local n, text = B.errors(B.dom(page, 3000))
      assert.are.equal(0, n, text)
    end
    assert.are.equal(0, h.wait(60), H.read(h.stderr))
  end)

  it("a bad --dashboard value or a port in use is a command-line error (exit 2)", function()
    local exp = slow_exp(1, 0)
    for _, spec in ipairs { "abc", "70000", "127.0.0.1:", "nohost:80", "-1" } do
      local r = H.run { exp, "--dir", H.tmpdir() .. "/d", "--dashboard", spec }
      assert.are.equal(2, r.code, spec .. "\n" .. H.describe(r))
      assert.is_truthy(r.stderr:find("--dashboard", 1, true), r.stderr)
    end
    -- a port someone else listens on
    local dir = H.tmpdir() .. "/busy"
    local h = H.spawn { slow_exp(10, 0.3), "--dir", dir, "--quiet", "--dashboard", "127.0.0.1:0" }
    local url = url_of(dir)
    local r = H.run { exp, "--dir", H.tmpdir() .. "/d", "--dashboard", url:match(":(%d+)/") }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("cannot listen", 1, true), r.stderr)
    assert.are.equal(0, h.wait(60), H.read(h.stderr))
  end)
end)
