-- Headless Chromium for the specs of the report and the dashboard: renders a page to a PNG
-- and reads the DOM after its scripts ran. Debian's `chromium` (make deps-dev); without it,
-- the specs that need it are pending.
local H = require "spec.e2e.helpers"

local B = {}

-- TUNELUA_CHROMIUM: another binary, or "none" to run the specs as where it is missing
B.bin = os.getenv("TUNELUA_CHROMIUM") or H.capture("command -v chromium 2>/dev/null")
if B.bin == "" or B.bin == "none" then B.bin = nil end
B.missing = "chromium is not installed (apt-get install chromium, or make deps-dev): "
  .. "the page is not rendered"

local function chromium(url, extra)
  local prof = H.tmpdir()
  return string.format("timeout -k 5 60 %s --headless --no-sandbox --disable-gpu --no-first-run "
    .. "--disable-background-networking --disable-extensions --user-data-dir=%s %s %s 2>/dev/null",
    H.quote(B.bin), H.quote(prof), extra, H.quote(url))
end

-- The DOM after the page's scripts ran for `ms` of virtual time (timers, polling).
function B.dom(url, ms)
  return H.capture(chromium(url, "--virtual-time-budget=" .. (ms or 2000) .. " --dump-dom"))
end

-- Renders url into png (width x height); returns true when the file was written.
function B.screenshot(url, png, width, height)
  os.remove(png)
  H.sh(chromium(url, string.format("--hide-scrollbars --virtual-time-budget=2000 "
    .. "--window-size=%d,%d --screenshot=%s", width or 1400, height or 1600, H.quote(png))))
  local f = io.open(png, "rb")
  if not f then return false end
  local sig = f:read(8)
  f:close()
  return sig == "\137PNG\r\n\26\n"
end

-- What the page recorded in #tl-errors (window.onerror, unhandled rejections, chart failures).
function B.errors(dom)
  local attrs = dom:match('<div id="tl%-errors"([^>]*)>')
  if not attrs then return nil, "no #tl-errors element: the page did not load" end
  local n = tonumber(attrs:match('data%-count="(%d+)"'))
  local text = dom:match('<div id="tl%-errors"[^>]*>(.-)</div>') or ""
  return n, text
end

function B.count(dom, pattern)
  local n = 0
  for _ in dom:gmatch(pattern) do n = n + 1 end
  return n
end

-- Curve elements of the learning-curve chart.
function B.curves(dom) return B.count(dom, '<path class="curve[" ]') end

function B.file_url(path) return "file://" .. path end

return B
