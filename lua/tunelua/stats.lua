-- Small statistics for schedulers: means, medians and quantiles that agree with numpy, and
-- the running mean of one trial's learning curve.
--
-- API
--   stats.mean(xs [, n])            arithmetic mean of xs[1..n] (n defaults to #xs); nil if n == 0
--   stats.median(xs [, n])          numpy's np.median: the middle value, or (a + b) / 2 of the
--                                   two middle ones; a NaN anywhere gives NaN; nil if n == 0
--   stats.quantile(xs, q [, n])     numpy's np.quantile(xs, q) with the default "linear" method
--                                   (q in [0, 1]); a NaN anywhere gives NaN; nil if n == 0
--   stats.nanquantile(xs, q [, n])  np.nanquantile: NaNs are left out; nil when nothing is left
--   stats.sorted_quantile(xs, n, q) the same of xs[1..n] already in ascending order without
--                                   NaNs (no copy, no sort); nil when n = 0
--   stats.search(xs, n, x [, strict]) in xs[1..n], ascending: the first index i with xs[i] >= x
--                                   (> x when strict), n + 1 when none (a binary search)
--   stats.nanmedian(xs [, n])       np.nanmedian, likewise
--   stats.percentile(xs, p [, n])   np.percentile: stats.quantile(xs, p / 100) (q computed the
--                                   way numpy does, so that p = (1 - 1/3) * 100 behaves alike)
--   stats.nanpercentile(xs, p [, n])
--   stats.is_nan(x)                 x ~= x
--   stats.curve()                   a Curve: one trial's (t, value) points, t non-decreasing
--     c:add(t, value)               appends a point (no table is allocated per point)
--     c.n                           number of points
--     c:last_t()                    t of the newest point, or nil
--     c:best(sign)                  best value so far: the max of sign * value, in value units
--                                   (sign = 1 for "max", -1 for "min"), NaNs left out; nil
--                                   when empty, NaN when every value is NaN
--     c:mean_between(lo, hi)        mean of the values with lo <= t <= hi (O(log n) with
--                                   prefix sums), nil when no point is in range, NaN when a
--                                   value in range is NaN
--   stats.curves()                  Curves: the learning curves of many trials, by key
--     cs:add(key, t, value)         adds a point to key's curve (made on its first point, in
--                                   the order of first points) and returns the curve
--     cs[key]                       key's curve, or nil; keys are tables (trial views), which
--                                   cannot clash with the fields and methods
--     cs:means(skip, lo, hi)        the running means (c:mean_between(lo, hi)) of the curves,
--                                   other than skip's, that reached hi (c:last_t() >= hi) and
--                                   have a point in [lo, hi]: returns a reused scratch list
--                                   and its length n (only xs[1..n] are meant)
--     cs:median(skip, lo, hi)       stats.median of those means, and n: what
--                                   stats.median(cs:means(skip, lo, hi)) gives. A window
--                                   (lo, hi) asked for twice is kept from then on (up to 64):
--                                   its means, sorted, follow the curves as they reach hi, so
--                                   that each later ask is a binary search, not a pass over
--                                   every curve (a time_attr such as training_iteration asks for
--                                   the same few windows again and again; time_total_s seldom
--                                   repeats one and is computed each time)
--
-- None of these change their input: quantiles sort a scratch copy that is kept and reused,
-- so a call allocates nothing once the scratch has grown.
local floor, huge = math.floor, math.huge
local sort, insert, remove = table.sort, table.insert, table.remove
local setmetatable, type, tostring, error, ipairs = setmetatable, type, tostring, error, ipairs

local M = {}

local function is_nan(x) return x ~= x end
M.is_nan = is_nan

function M.mean(xs, n)
  n = n or #xs
  if n == 0 then return nil end
  local s = 0
  for i = 1, n do s = s + xs[i] end
  return s / n
end

-- One scratch array, reused by every quantile: callers never see it.
local scratch = {}

-- Copies xs[1..n] into the scratch (without NaNs when skip_nan) and returns the count, or -1
-- when a NaN was seen and not skipped.
local function copied(xs, n, skip_nan)
  local m = 0
  for i = 1, n do
    local x = xs[i]
    if x ~= x then
      if not skip_nan then return -1 end
    else
      m = m + 1
      scratch[m] = x
    end
  end
  return m
end

-- copied(), then the scratch sorted.
local function sorted(xs, n, skip_nan)
  local m = copied(xs, n, skip_nan)
  if m < 0 then return m end
  for i = m + 1, #scratch do scratch[i] = nil end
  sort(scratch)
  return m
end

-- numpy's _lerp: a + (b - a) * t, computed from b's side when t >= 0.5 (numpy >= 1.22), so
-- that quantile values agree to the last bit.
local function lerp(a, b, t)
  local d = b - a
  if t >= 0.5 then return b - d * (1 - t) end
  return a + d * t
end

-- The "linear" method (numpy's default, type 7 of Hyndman & Fan) on xs[1..m], sorted.
local function linear(m, q, xs)
  xs = xs or scratch
  local h = (m - 1) * q
  local lo = floor(h)
  if lo >= m - 1 then return xs[m] end
  if lo < 0 then return xs[1] end
  return lerp(xs[lo + 1], xs[lo + 2], h - lo)
end

local function check_q(q)
  if type(q) ~= "number" or q ~= q or q < 0 or q > 1 then
    error("stats: quantile q must be a number in [0, 1], got " .. tostring(q), 3)
  end
end

function M.quantile(xs, q, n)
  check_q(q)
  n = n or #xs
  if n == 0 then return nil end
  local m = sorted(xs, n, false)
  if m < 0 then return 0 / 0 end
  return linear(m, q)
end

function M.nanquantile(xs, q, n)
  check_q(q)
  local m = sorted(xs, n or #xs, true)
  if m == 0 then return nil end
  return linear(m, q)
end

function M.sorted_quantile(xs, n, q)
  check_q(q)
  if n == 0 then return nil end
  return linear(n, q, xs)
end

function M.percentile(xs, p, n)
  return M.quantile(xs, p / 100, n)
end

function M.nanpercentile(xs, p, n)
  return M.nanquantile(xs, p / 100, n)
end

-- Moves the k-th smallest of a[lo..hi] (no NaNs) to a[k], with none larger before it and none
-- smaller after it: Hoare's selection with median-of-three pivots, O(hi - lo) on average
-- where a sort is O(n log n) (the median stopping rule takes a median of every trial per
-- result).
local function select(a, lo, hi, k)
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if a[mid] < a[lo] then a[mid], a[lo] = a[lo], a[mid] end
    if a[hi] < a[lo] then a[hi], a[lo] = a[lo], a[hi] end
    if a[hi] < a[mid] then a[hi], a[mid] = a[mid], a[hi] end
    local pivot, i, j = a[mid], lo, hi
    while i <= j do
      while a[i] < pivot do i = i + 1 end
      while a[j] > pivot do j = j - 1 end
      if i <= j then
        a[i], a[j] = a[j], a[i]
        i, j = i + 1, j - 1
      end
    end
    if k <= j then
      hi = j
    elseif k >= i then
      lo = i
    else
      return -- between j and i every value equals the pivot
    end
  end
end

-- np.median of scratch[1..m]: the middle value, or for an even count the mean of the two
-- middle ones computed as (a + b) / 2, the second being the least of those after the first.
local function middle(m)
  local k = floor((m + 1) / 2)
  select(scratch, 1, m, k)
  if m % 2 == 1 then return scratch[k] end
  local b = scratch[k + 1]
  for i = k + 2, m do
    if scratch[i] < b then b = scratch[i] end
  end
  return (scratch[k] + b) / 2
end

function M.median(xs, n)
  n = n or #xs
  if n == 0 then return nil end
  local m = copied(xs, n, false)
  if m < 0 then return 0 / 0 end
  return middle(m)
end

function M.nanmedian(xs, n)
  local m = copied(xs, n or #xs, true)
  if m == 0 then return nil end
  return middle(m)
end

-- A trial's learning curve. Times are expected in non-decreasing order (a time attribute
-- that only grows, as Ray Tune requires); the prefix sums make a windowed mean two binary
-- searches and one subtraction.
local Curve = {}
Curve.__index = Curve

function M.curve()
  return setmetatable({ n = 0, t = {}, sum = { [0] = 0 }, nans = { [0] = 0 }, valid = 0,
    hi = -huge, lo = huge }, Curve)
end

-- NaN values are counted apart, so that a NaN makes only the windows that hold it NaN.
function Curve:add(t, value)
  local n = self.n + 1
  self.n = n
  self.t[n] = t
  self[n] = value
  if value ~= value then
    self.sum[n], self.nans[n] = self.sum[n - 1], self.nans[n - 1] + 1
  else
    self.sum[n], self.nans[n] = self.sum[n - 1] + value, self.nans[n - 1]
    self.valid = self.valid + 1
    if value > self.hi then self.hi = value end
    if value < self.lo then self.lo = value end
  end
end

function Curve:last_t()
  return self.t[self.n]
end

function Curve:best(sign)
  if self.n == 0 then return nil end
  if self.valid == 0 then return 0 / 0 end
  if sign > 0 then return self.hi end
  return self.lo
end

-- The first index whose t is >= x (or > x when strict), in 1..n+1.
local function search(ts, n, x, strict)
  local lo, hi = 1, n + 1
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    local t = ts[mid]
    if t < x or (strict and t == x) then lo = mid + 1 else hi = mid end
  end
  return lo
end
M.search = search

function Curve:mean_between(lo, hi)
  local n = self.n
  local i = search(self.t, n, lo, false)
  local j = search(self.t, n, hi, true) - 1
  if j < i then return nil end
  if self.nans[j] > self.nans[i - 1] then return 0 / 0 end
  return (self.sum[j] - self.sum[i - 1]) / (j - i + 1)
end

-- Curves in the order of their first point, as a Python dict keeps them (Ray's median
-- stopping rule iterates over one).
local Curves = {}
Curves.__index = Curves

function M.curves()
  return setmetatable({ order = {}, scratch = {}, windows = {}, asked = {}, nasked = 0 },
    Curves)
end

-- A kept window: n running means, nans of them NaN, the others in `sorted`, ascending.
local KEEP, FORGET = 64, 4096

local function put(w, m)
  if m == nil then return end
  w.n = w.n + 1
  if m ~= m then
    w.nans = w.nans + 1
  else
    local xs = w.sorted
    insert(xs, search(xs, #xs, m), m)
  end
end

local function drop(w, m)
  if m == nil then return end
  w.n = w.n - 1
  if m ~= m then
    w.nans = w.nans - 1
  else
    local xs = w.sorted
    remove(xs, search(xs, #xs, m))
  end
end

-- A curve is in window w when it reached w.hi and has a point in [w.lo, w.hi]. A new point
-- at t brings in the curves that had not reached w.hi <= t, and changes the mean of a curve
-- that already ended at t = w.hi.
function Curves:add(key, t, value)
  local c = self[key]
  if not c then
    c = M.curve()
    self[key] = c
    self.order[#self.order + 1] = key
  end
  local ws = self.windows
  if not ws[1] then
    c:add(t, value)
    return c
  end
  local old = c:last_t() or -huge
  for _, w in ipairs(ws) do
    if w.hi == t and old == t then drop(w, c:mean_between(w.lo, t)) end
  end
  c:add(t, value)
  for _, w in ipairs(ws) do
    local hi = w.hi
    if hi <= t and (hi > old or (hi == old and old == t)) then put(w, c:mean_between(w.lo, hi)) end
  end
  return c
end

-- The kept window (lo, hi), made on the second ask; nil while it is not kept.
function Curves:window(lo, hi)
  for _, w in ipairs(self.windows) do
    if w.hi == hi and w.lo == lo then return w end
  end
  local asked = self.asked
  if asked[hi] ~= lo then
    if self.nasked >= FORGET then asked, self.nasked = {}, 0 end
    self.asked, self.nasked = asked, self.nasked + 1
    asked[hi] = lo
    return nil
  end
  if #self.windows >= KEEP then return nil end
  local w = { lo = lo, hi = hi, n = 0, nans = 0, sorted = {} }
  for _, key in ipairs(self.order) do
    local c = self[key]
    if c:last_t() >= hi then put(w, c:mean_between(lo, hi)) end
  end
  self.windows[#self.windows + 1] = w
  return w
end

-- The k-th smallest of xs without its p-th (p = false: none left out).
local function kth_without(xs, p, k)
  return xs[(p and k >= p) and k + 1 or k]
end

function Curves:median(skip, lo, hi)
  local w = self:window(lo, hi)
  local c = self[skip]
  local own = w and c and c:last_t() >= hi and c:mean_between(lo, hi)
  local xs = w and w.sorted
  local p = own and own == own and search(xs, #xs, own)
  if not w or (p and xs[p] ~= own) then
    local means, n = self:means(skip, lo, hi)
    return M.median(means, n), n
  end
  local n, nans = w.n, w.nans
  if own then
    n = n - 1
    if own ~= own then nans = nans - 1 end
  end
  if n == 0 then return nil, 0 end
  if nans > 0 then return 0 / 0, n end
  local k = floor((n + 1) / 2)
  local a = kth_without(xs, p, k)
  if n % 2 == 1 then return a, n end
  return (a + kth_without(xs, p, k + 1)) / 2, n
end

-- A curve with no point in [lo, hi] has no running mean there; numpy's mean of nothing is NaN
-- (which in Ray then stops every trial): it is left out here.
function Curves:means(skip, lo, hi)
  local out, n = self.scratch, 0
  for _, key in ipairs(self.order) do
    local c = self[key]
    if key ~= skip and c:last_t() >= hi then
      local m = c:mean_between(lo, hi)
      if m then
        n = n + 1
        out[n] = m
      end
    end
  end
  return out, n
end

return M
