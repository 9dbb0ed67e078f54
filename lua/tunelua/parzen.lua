-- Parzen estimators for model-based searchers (TPE, BOHB): mixtures of truncated Gaussians
-- (numeric dimensions) and smoothed categorical distributions, over one dimension
-- (univariate TPE) or several sharing one component index (multivariate TPE, BOHB).
--
-- Numbers live in an "internal" space chosen by the searcher: log(x) for log domains,
-- [low - q/2, high + q/2] for integer and quantized ones. Categories are 1-based indices.
--
-- The bandwidth rules and weights follow Optuna 3.1's _ParzenEstimator:
--   rule "neighbors": sigma = max distance to the sorted neighbours (ends: the inner one
--     unless consider_endpoints), clipped to [range / min(100, 1 + n_kernels), range]
--     (the "magic clip"); the prior is one more kernel, mean at the middle, sigma = range.
--   rule "multivariate": sigma = 0.2 * n^(-1 / (d + 4)) * range for every kernel.
--   rule "scott": Scott's rule, sigma = 1.06 * sd * n^(-1/(d+4)) (d = 1 unless o.scott_d),
--     at least min_bandwidth * range: BOHB's KDE, and TPE's default multivariate kernels.
-- With bandwidth_weights (rule "neighbors" only) a kernel's term in logpdf is multiplied by
-- its sigma, as Optuna < 3.5's truncnorm.logpdf omitted -log(sigma) (optuna#5109); draws
-- still pick kernels by their weights alone, as Optuna's did.

local type = type
local exp, log, sqrt, floor, min, max, huge = math.exp, math.log, math.sqrt, math.floor,
  math.min, math.max, math.huge
local ffi = require "ffi"
local tnew = require "table.new"
local darr = ffi.typeof("double[?]")
local iarr = ffi.typeof("int32_t[?]")

local M = {}

local LOG_SQRT_2PI = 0.5 * log(2 * math.pi)
-- From this many observations a univariate mixture keeps its kernels sorted by mean too.
local SORTED_MIN = 32

-- exp(-u / 16) for u = 0, 1, ..., 640: the table of expneg below.
local EXPT = darr(641)
for i = 0, 640 do EXPT[i] = exp(-i / 16) end

-- exp(t) for -40 < t <= 0, to a relative 1e-12 (a table entry times a degree-6 Taylor
-- polynomial over less than 1/16): cheaper inside a LuaJIT trace than a call to libm's exp.
local function expneg(t)
  local u = -16 * t
  local i = floor(u)
  local r = (i - u) * 0.0625
  return EXPT[i] * (1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120
    + r * (1 / 720)))))))
end
M.expneg = expneg

-- The standard normal cdf, within 1e-11 everywhere: cubic Hermite interpolation of Phi and
-- its density at steps of 1/128 over [0, 8.5] (beyond, Phi is 1 to a double's precision),
-- by symmetry below 0. The nodes' Phi comes from Simpson's rule on 4 pieces a step (each
-- step's share to 1e-16), summed from Phi(0) = 1/2 at load. A few table reads and
-- multiplications: fit takes two per kernel and dimension for the truncation to the range.
local PHI_N, PHI_H = 1088, 1 / 128
local function density(x) return exp(-0.5 * x * x) / 2.5066282746310002 end
local PA, PB, PC, PD = darr(PHI_N + 1), darr(PHI_N + 1), darr(PHI_N + 1), darr(PHI_N + 1)
do
  local f0, d0 = 0.5, density(0)
  local q = PHI_H / 4
  for i = 0, PHI_N - 1 do
    local x0 = i * PHI_H
    local acc, left = 0, d0
    for j = 1, 4 do
      local right = density(x0 + j * q)
      acc = acc + q / 6 * (left + 4 * density(x0 + (j - 0.5) * q) + right)
      left = right
    end
    local f1, d1 = f0 + acc, left
    -- f on the step as a cubic in r = (x - x0) / h: PA + r (PB + r (PC + r PD))
    PA[i], PB[i] = f0, d0 * PHI_H
    PC[i] = 3 * (f1 - f0) - 2 * d0 * PHI_H - d1 * PHI_H
    PD[i] = 2 * (f0 - f1) + d0 * PHI_H + d1 * PHI_H
    f0, d0 = f1, d1
  end
end
local function phi(x)
  local t = x < 0 and -x or x
  local v = 1
  if t < 8.5 then
    local u = t * 128
    local i = floor(u)
    local r = u - i
    v = PA[i] + r * (PB[i] + r * (PC[i] + r * PD[i]))
  end
  return x < 0 and 1 - v or v
end
M.phi = phi

-- Optuna's default_gamma: how many observations make the "good" group.
function M.gamma(n)
  return min(math.ceil(0.1 * n), 25)
end

-- Optuna's default_weights: 1 for the newest 25, a ramp from 1/n up to 1 for the older ones
-- (observations in the order the trials were created).
function M.ramp_weights(n)
  local w = {}
  if n < 25 then
    for i = 1, n do w[i] = 1 end
    return w
  end
  local m = n - 25
  for i = 1, m do
    w[i] = (m == 1) and 1 / n or 1 / n + (1 - 1 / n) * (i - 1) / (m - 1)
  end
  for i = m + 1, n do w[i] = 1 end
  return w
end

function M.flat_weights(n)
  local w = {}
  for i = 1, n do w[i] = 1 end
  return w
end

-- Sorts the pairs a[lo..hi] (an FFI array of { v, i }) by v ascending; deterministic for
-- the same input (equal values may come in any order: they share one sigma). In Lua so that
-- LuaJIT compiles it (table.sort calls back through the C API for every comparison).
ffi.cdef "typedef struct { double v; int i; } tunelua_vi;"
local viarr = ffi.typeof("tunelua_vi[?]")
local function vsort(a, lo, hi)
  while hi - lo > 16 do
    local mid = floor((lo + hi) / 2)
    local x, y, z = a[lo].v, a[mid].v, a[hi].v
    local p
    if x < y then
      if y < z then p = y elseif x < z then p = z else p = x end
    else
      if x < z then p = x elseif y < z then p = z else p = y end
    end
    local i, j = lo, hi
    while i <= j do
      while a[i].v < p do i = i + 1 end
      while a[j].v > p do j = j - 1 end
      if i <= j then
        local tv, ti = a[i].v, a[i].i
        a[i].v, a[i].i = a[j].v, a[j].i
        a[j].v, a[j].i = tv, ti
        i, j = i + 1, j - 1
      end
    end
    if j - lo < hi - i then
      vsort(a, lo, j)
      lo = i
    else
      vsort(a, i, hi)
      hi = j
    end
  end
  for i = lo + 1, hi do
    local v, vi = a[i].v, a[i].i
    local j = i - 1
    while j >= lo and a[j].v > v do
      a[j + 1].v, a[j + 1].i = a[j].v, a[j].i
      j = j - 1
    end
    a[j + 1].v, a[j + 1].i = v, vi
  end
end

-- Sigmas of the "neighbors" rule for the values mus[1..n] (the prior's mean included when
-- prior_mu is given), in the order of mus; and the data indices sorted by value (the
-- prior's excluded).
local function neighbor_sigmas(mus, n, low, high, prior_mu, endpoints)
  local N = prior_mu and n + 1 or n
  local a = viarr(N)
  for i = 1, n do a[i - 1].v, a[i - 1].i = mus[i], i end
  if prior_mu then a[n].v, a[n].i = prior_mu, N end
  vsort(a, 0, N - 1)
  -- a value's sigma by value: that of the first sorted position holding it (equal values
  -- share one: a negligible difference from Optuna's per-position sigmas)
  local out, perm, np = {}, {}, 0
  local first_s, prev = 0, nil
  for j = 0, N - 1 do
    local v = a[j].v
    local s
    if j > 0 and v == prev then
      s = first_s
    else
      if not endpoints and N >= 2 and (j == 0 or j == N - 1) then
        s = j == 0 and a[1].v - v or v - a[N - 2].v
      else
        local left = j == 0 and low or a[j - 1].v
        local right = j == N - 1 and high or a[j + 1].v
        s = max(v - left, right - v)
      end
      first_s, prev = s, v
    end
    local i = a[j].i
    if i <= n then
      out[i] = s
      np = np + 1
      perm[np] = i
    end
  end
  return out, perm
end

-- The components' log weights (and their cumulative sums, for draws): the observations'
-- weights[1..n], then the prior's (1 with no observation, else pw) when with_prior.
local function component_weights(weights, n, with_prior, pw, K)
  local w, total = tnew(K, 0), 0
  for i = 1, n do w[i] = weights[i]; total = total + w[i] end
  if with_prior then w[K] = (n == 0) and 1 or pw; total = total + w[K] end
  local logw, cum, acc = tnew(K, 0), tnew(K, 0), 0
  for k = 1, K do
    local p = w[k] / total
    logw[k] = p > 0 and log(p) or -huge
    acc = acc + p
    cum[k] = acc
  end
  return logw, cum
end

-- A categorical dimension of nc categories over K kernels: a data kernel puts base + 1 on its
-- observed category and base on each other one (the prior kernel base on all), normalised:
-- the probabilities of the prior, of a hit and of a miss.
local function cat_probs(nc, pw, K)
  local base = pw / K
  local s = 0
  for _ = 1, nc do s = s + base end
  return base / s, (base + 1) / (s + 1), base / (s + 1)
end

-- The sigma every data kernel of a numeric dimension shares under rule "multivariate" or
-- "scott" (ssd: its n values' sum of squared deviations from their mean), before clipping.
local function shared_sigma(rule, n, D, ssd, range, o)
  if rule == "multivariate" then
    return 0.2 * max(n, 1) ^ (-1 / (D + 4)) * range
  end
  local sd = n > 1 and sqrt(ssd / (n - 1)) or range
  return max(1.06 * sd * max(n, 1) ^ (-1 / ((o.scott_d or 1) + 4)),
    (o.min_bandwidth or 1e-3) * range)
end

-- The smallest sigma a data kernel may take (the "magic clip").
local function min_sigma(o, range, K)
  return o.magic_clip ~= false and o.rule ~= "scott" and range / min(100, 1 + K) or 1e-12
end

-- A kernel's log normaliser: its truncation to [low, high] and, given ls = log(s), its width
-- (ls = 0: Optuna < 3.5's bandwidth_weights).
local function kernel_lc(m, s, low, high, ls)
  local z = phi((high - m) / s) - phi((low - m) / s)
  if z < 1e-300 then z = 1e-300 end
  return (z == 1 and 0 or -log(z)) - ls - LOG_SQRT_2PI
end

-- Builds a mixture over dims from observations.
--   dims: array of { kind = "num", low, high, prior_mu, prior_sigma }
--         or { kind = "cat", n = number of categories }
--   cols: one array per dimension (cols[d][i] is observation i's internal value or index)
--   weights: one per observation (need not sum to 1)
--   o: { rule = "neighbors" | "multivariate" | "scott", consider_prior = true,
--        prior_weight = 1, magic_clip = true, endpoints = false, min_bandwidth = 1e-3,
--        scott_d = 1, bandwidth_weights = false }
function M.fit(dims, cols, weights, o)
  local n = #weights
  local with_prior = o.consider_prior or n == 0
  local pw = o.prior_weight or 1
  local sw = o.bandwidth_weights and o.rule == "neighbors"
  local K = n + (with_prior and 1 or 0)
  local logw, cum = component_weights(weights, n, with_prior, pw, K)
  local mix = { K = K, D = #dims, logw = logw, cum = cum, dims = {} }
  for d, dim in ipairs(dims) do
    local col = cols[d]
    if dim.kind == "cat" then
      -- three probabilities in all (cat_probs), so no table per kernel
      local nc = dim.n
      local pprior, hit, miss = cat_probs(nc, pw, K)
      mix.dims[d] = { kind = "cat", n = nc, col = col, n_data = n, phit = hit, pmiss = miss,
        pprior = pprior, lhit = log(hit), lmiss = log(miss), lprior = log(pprior) }
    else
      local low, high = dim.low, dim.high
      local range = high - low
      local pmu = dim.prior_mu or 0.5 * (low + high)
      local psig = dim.prior_sigma or range
      local sig, perm
      if o.rule == "multivariate" or o.rule == "scott" then
        local mean, ssd = 0, 0
        if o.rule == "scott" then
          for i = 1, n do mean = mean + col[i] end
          mean = mean / max(n, 1)
          for i = 1, n do ssd = ssd + (col[i] - mean) ^ 2 end
        end
        local s = shared_sigma(o.rule, n, #dims, ssd, range, o)
        sig = tnew(n, 0)
        for i = 1, n do sig[i] = s end
      else
        sig, perm = neighbor_sigmas(col, n, low, high, with_prior and pmu or nil, o.endpoints)
      end
      local minsig = min_sigma(o, range, K)
      local mu, sg, lc = tnew(K, 0), tnew(K, 0), tnew(K, 0)
      local ls_of, ls = nil, 0 -- log(s) for the last s (most kernels share one)
      for k = 1, K do
        local m, s
        if k <= n then
          m, s = col[k], min(max(sig[k], minsig), range)
        else
          m, s = pmu, psig
        end
        mu[k], sg[k] = m, s
        if not sw and s ~= ls_of then ls_of, ls = s, log(s) end
        lc[k] = kernel_lc(m, s, low, high, ls)
      end
      -- flat arrays for logpdf: c = logw + lc, mu, 1/sigma (0-based)
      local fc, fmu, fis = darr(K), darr(K), darr(K)
      for k = 1, K do
        fc[k - 1], fmu[k - 1], fis[k - 1] = lc[k], mu[k], 1 / sg[k]
      end
      local nd = { kind = "num", low = low, high = high, mu = mu, sigma = sg, lc = lc,
        fc = fc, fmu = fmu, fis = fis }
      if perm and #dims == 1 and n >= SORTED_MIN then
        -- the data kernels sorted by mean, for logpdf's window around x
        local smu, sfw, sfis = darr(n), darr(n), darr(n)
        local fwmax, fismin = -huge, huge
        for j = 1, n do
          local k = perm[j]
          local fw, is = logw[k] + lc[k], 1 / sg[k]
          smu[j - 1], sfw[j - 1], sfis[j - 1] = mu[k], fw, is
          if fw > fwmax then fwmax = fw end
          if is < fismin then fismin = is end
        end
        nd.n, nd.smu, nd.sfw, nd.sfis, nd.fwmax, nd.fismin = n, smu, sfw, sfis, fwmax, fismin
        if K > n then nd.pfw, nd.pmu, nd.pis = logw[K] + lc[K], mu[K], 1 / sg[K] end
      end
      mix.dims[d] = nd
    end
  end
  return mix
end

-- M.fit for one numeric dimension under rule "neighbors", from observations already sorted
-- by value: sv[0..n-1] (ascending), their unnormalised weights' logs slw[0..n-1] and the sum
-- of those weights. Gives the mixture M.fit would (same kernels, up to the rounding of the
-- weights' sum) without sorting; only logpdf may be used on it (no draws). TPE keeps its
-- observations sorted per parameter, so its g(x) costs O(n) per suggestion.
function M.fit_sorted(dim, sv, slw, n, wsum, o)
  local with_prior = o.consider_prior or n == 0
  local low, high = dim.low, dim.high
  local range = high - low
  local pmu = dim.prior_mu or 0.5 * (low + high)
  local psig = dim.prior_sigma or range
  local K = n + (with_prior and 1 or 0)
  local pw = o.prior_weight or 1
  local logtotal = log(wsum + (with_prior and pw or 0))
  local sw = o.bandwidth_weights
  local minsig = o.magic_clip ~= false and range / min(100, 1 + K) or 1e-12
  -- the values with the prior's mean merged in: a[0..K-1]
  local a = darr(K)
  local pp = n
  if with_prior then
    local lo, hi = 0, n
    while lo < hi do
      local mid = floor((lo + hi) / 2)
      if sv[mid] < pmu then lo = mid + 1 else hi = mid end
    end
    pp = lo
    for j = 0, pp - 1 do a[j] = sv[j] end
    a[pp] = pmu
    for j = pp, n - 1 do a[j + 1] = sv[j] end
  else
    for j = 0, n - 1 do a[j] = sv[j] end
  end
  local smu, sfw, sfis = darr(n), darr(n), darr(n)
  local fwmax, fismin = -huge, huge
  local endpoints, N = o.endpoints, K
  local first_s, prev, i = 0, nil, 0
  for j = 0, N - 1 do
    local v = a[j]
    local s
    if j > 0 and v == prev then
      s = first_s
    else
      if not endpoints and N >= 2 and (j == 0 or j == N - 1) then
        s = j == 0 and a[1] - v or v - a[N - 2]
      else
        local left = j == 0 and low or a[j - 1]
        local right = j == N - 1 and high or a[j + 1]
        s = max(v - left, right - v)
      end
      first_s, prev = s, v
    end
    if j ~= pp or not with_prior then
      s = min(max(s, minsig), range)
      local ta, tb = (high - v) / s, (low - v) / s
      local z = phi(ta) - phi(tb)
      local fw = slw[i] - logtotal - (sw and 0 or log(s)) - LOG_SQRT_2PI
      if z ~= 1 then fw = fw - log(max(z, 1e-300)) end
      local is = 1 / s
      smu[i], sfw[i], sfis[i] = v, fw, is
      if fw > fwmax then fwmax = fw end
      if is < fismin then fismin = is end
      i = i + 1
    end
  end
  local nd = { kind = "num", low = low, high = high, n = n, smu = smu, sfw = sfw, sfis = sfis,
    fwmax = fwmax, fismin = fismin }
  if with_prior then
    local ta, tb = (high - pmu) / psig, (low - pmu) / psig
    local z = phi(ta) - phi(tb)
    if z < 1e-300 then z = 1e-300 end
    nd.pfw = log(pw) - logtotal - log(z) - (sw and 0 or log(psig)) - LOG_SQRT_2PI
    nd.pmu, nd.pis = pmu, 1 / psig
  end
  return { K = K, D = 1, dims = { nd } }
end

-- The component index for a uniform draw u.
local function pick(cum, K, u)
  local lo, hi = 1, K
  while lo < hi do
    local m = floor((lo + hi) / 2)
    if cum[m] < u then lo = m + 1 else hi = m end
  end
  return lo
end

-- One draw: a vector (array) of internal values. scale widens the numeric kernels (BOHB's
-- bandwidth_factor). Truncated normals by rejection (acceptance is at least ~0.38 with the
-- clipped sigmas); after 100 misses a uniform draw over the range.
function M.sample(mix, rng, scale)
  scale = scale or 1
  local k = pick(mix.cum, mix.K, rng:random())
  local v = {}
  for d = 1, mix.D do
    local dim = mix.dims[d]
    if dim.kind == "cat" then
      local u, acc = rng:random(), 0
      local c = dim.n
      local own = k <= dim.n_data and dim.col[k]
      for j = 1, dim.n do
        acc = acc + (not own and dim.pprior or j == own and dim.phit or dim.pmiss)
        if u < acc then c = j; break end
      end
      v[d] = c
    else
      local m, s, lo, hi = dim.mu[k], dim.sigma[k] * scale, dim.low, dim.high
      local x
      for _ = 1, 100 do
        local y = rng:normal(m, s)
        if y >= lo and y <= hi then x = y; break end
      end
      v[d] = x or rng:uniform(lo, hi)
    end
  end
  return v
end

-- The evaluator of flat arrays with Dn numeric and Dc categorical dimensions: a function
-- (c, mu, is, col, gain, x, cv, K, t) giving log sum_k exp(score_k) at the point (x, cv),
-- score_k = c[k] + gain of each categorical hit - 0.5 z^2 for each numeric dimension. Its
-- code is written out for the shape, one statement per dimension (LuaJIT compiles a loop
-- over 2 to 8 dimensions into a trace that leaves it at every kernel, several times slower);
-- two passes over the kernels, the scores kept in t: their maximum m, then the sum of
-- exp(score - m) over the scores within 40 of it (smaller ones change it by less than e^-40
-- each). Cached by shape.
local evaluators = {}
local function evaluator(Dn, Dc)
  local key = Dn * 1000 + Dc
  local f = evaluators[key]
  if f then return f end
  local src = { "local floor, log, huge, expneg = ...",
    "return function(c, mu, is, col, gain, x, cv, K, t)" }
  local function add(line) src[#src + 1] = line end
  for d = 0, Dn - 1 do add(("local x%d = x[%d]"):format(d, d)) end
  for j = 0, Dc - 1 do add(("local e%d = cv[%d]"):format(j, j)) end
  add("local m = -huge")
  add("for k = 0, K - 1 do")
  add("  local s = c[k]")
  for j = 0, Dc - 1 do
    add(("  s = s + gain[col[k * %d + %d] - e%d]"):format(Dc, j, j))
  end
  if Dn > 0 then add(("  local b = k * %d"):format(Dn)) end
  for d = 0, Dn - 1 do
    add(("  local z%d = (x%d - mu[b + %d]) * is[b + %d]; s = s - 0.5 * z%d * z%d")
      :format(d, d, d, d, d, d))
  end
  add("  t[k] = s")
  add("  if s > m then m = s end")
  add("end")
  add("if m == -huge then return m end")
  add("local sum, cut = 0, m - 40")
  add("for k = 0, K - 1 do")
  add("  local s = t[k]")
  add("  if s > cut then sum = sum + expneg(s - m) end")
  add("end")
  add("return m + log(sum)")
  add("end")
  f = assert(load(table.concat(src, "\n"), "=parzen.evaluator"))(floor, log, huge, expneg)
  evaluators[key] = f
  return f
end

-- The frame of logpdf's flat arrays for K kernels over dims, for the caller to fill: c (each
-- kernel's constant score), mu and is (1/sigma) in rows of the Dn numeric dimensions, col (the
-- kernel's category, 0 for the prior) in rows of the Dc categorical ones; gains[j] is the
-- j-th categorical dimension's lhit - lmiss. A hit adds gain[col - e] with e = the point's
-- category - eoff[j] (logpdf): that gain where the kernel's category is the point's, 0
-- elsewhere, so no branch to mispredict; a point outside the categories takes e = nohit,
-- whose slots are all 0.
local function new_flat(dims, K, gains)
  local num, cat, nc = {}, {}, {}
  for d = 1, #dims do
    if dims[d].kind == "num" then num[#num + 1] = d else cat[#cat + 1] = d end
  end
  local Dn, Dc = #num, #cat
  local eoff, ng, ncmax = {}, 0, 0
  for j = 1, Dc do
    nc[j] = dims[cat[j]].n
    eoff[j], ng = ng + nc[j], ng + 2 * nc[j] + 1
    ncmax = max(ncmax, nc[j])
  end
  local nohit = -ng
  local gain = darr(ng + ncmax + 1)
  for j = 1, Dc do gain[eoff[j]] = gains[j] end
  return { c = darr(K), mu = darr(K * Dn), is = darr(K * Dn), Dn = Dn, num = num,
    Dc = Dc, cat = cat, nc = nc, col = iarr(K * Dc + 1), gain = gain, eoff = eoff,
    nohit = nohit, x = darr(Dn + 1), cv = iarr(Dc + 1), t = darr(K + 1),
    eval = evaluator(Dn, Dc) }
end

-- logpdf's flat arrays for a mixture of fit (set as mix.flat), or false when a categorical
-- dimension gives some category no mass (log 0: the general loop).
local function flatten(mix)
  local K, logw, dims = mix.K, mix.logw, mix.dims
  local gains = {}
  for d = 1, mix.D do
    local dim = dims[d]
    if dim.kind == "cat" then
      if dim.lmiss == -huge or dim.lprior == -huge then
        mix.flat = false
        return false
      end
      gains[#gains + 1] = dim.lhit - dim.lmiss
    end
  end
  local flat = new_flat(dims, K, gains)
  local c, fm, fi, fcol = flat.c, flat.mu, flat.is, flat.col
  local num, cat, Dn, Dc = flat.num, flat.cat, flat.Dn, flat.Dc
  for k = 0, K - 1 do
    local s = logw[k + 1]
    for j = 1, Dn do
      local dim = dims[num[j]]
      s = s + dim.fc[k]
      fm[k * Dn + j - 1], fi[k * Dn + j - 1] = dim.fmu[k], dim.fis[k]
    end
    for j = 1, Dc do
      local dim = dims[cat[j]]
      if k < dim.n_data then
        s, fcol[k * Dc + j - 1] = s + dim.lmiss, dim.col[k + 1]
      else -- the prior: the same mass on every category, never a hit
        s, fcol[k * Dc + j - 1] = s + dim.lprior, 0
      end
    end
    c[k] = s
  end
  mix.flat = flat
  return flat
end

-- M.fit under rule "scott" or "multivariate" from n observations in rows, X[i * D + d - 1]
-- for observation i (0-based) and dimension d (a category as its number), for logpdf only
-- (no draws): the flat arrays straight from the rows, without the tables fit keeps per
-- dimension, and the same numbers as fit's. nil when a categorical dimension gives some
-- category no mass (fit's general loop then).
function M.fit_rows(dims, X, n, weights, o)
  local D = #dims
  local with_prior = o.consider_prior or n == 0
  local pw = o.prior_weight or 1
  local K = n + (with_prior and 1 or 0)
  local gains, probs = {}, {}
  for d = 1, D do
    if dims[d].kind == "cat" then
      local pprior, hit, miss = cat_probs(dims[d].n, pw, K)
      if pprior == 0 or miss == 0 then return nil end
      probs[d] = { lprior = log(pprior), lmiss = log(miss) }
      gains[#gains + 1] = log(hit) - log(miss)
    end
  end
  local logw = component_weights(weights, n, with_prior, pw, K)
  local flat = new_flat(dims, K, gains)
  local c, fm, fi, fcol = flat.c, flat.mu, flat.is, flat.col
  local Dn, Dc = flat.Dn, flat.Dc
  for k = 0, K - 1 do c[k] = logw[k + 1] end
  for j, d in ipairs(flat.num) do
    local dim = dims[d]
    local low, high = dim.low, dim.high
    local range = high - low
    local mean, ssd = 0, 0
    if o.rule == "scott" then
      for i = 0, n - 1 do mean = mean + X[i * D + d - 1] end
      mean = mean / max(n, 1)
      for i = 0, n - 1 do ssd = ssd + (X[i * D + d - 1] - mean) ^ 2 end
    end
    local s = min(max(shared_sigma(o.rule, n, D, ssd, range, o), min_sigma(o, range, K)),
      range)
    local ls, is = log(s), 1 / s
    for i = 0, n - 1 do
      local m = X[i * D + d - 1]
      fm[i * Dn + j - 1], fi[i * Dn + j - 1] = m, is
      c[i] = c[i] + kernel_lc(m, s, low, high, ls)
    end
    if with_prior then
      local pmu, psig = dim.prior_mu or 0.5 * (low + high), dim.prior_sigma or range
      fm[n * Dn + j - 1], fi[n * Dn + j - 1] = pmu, 1 / psig
      c[n] = c[n] + kernel_lc(pmu, psig, low, high, log(psig))
    end
  end
  for j, d in ipairs(flat.cat) do
    local lmiss = probs[d].lmiss
    for i = 0, n - 1 do
      fcol[i * Dc + j - 1] = X[i * D + d - 1]
      c[i] = c[i] + lmiss
    end
    if with_prior then
      fcol[n * Dc + j - 1] = 0
      c[n] = c[n] + probs[d].lprior
    end
  end
  return { K = K, D = D, dims = dims, flat = flat }
end

-- log density of the mixture at vector v.
function M.logpdf(mix, v)
  local K, D, logw, dims = mix.K, mix.D, mix.logw, mix.dims
  -- joint TPE, BOHB: flat arrays and an evaluator for their shape, built once per mixture
  local flat = mix.flat
  if flat == nil and (D > 1 or dims[1].kind == "cat") then flat = flatten(mix) end
  if flat then
    local x, cv, cat, eoff, nc = flat.x, flat.cv, flat.cat, flat.eoff, flat.nc
    for j = 0, flat.Dn - 1 do x[j] = v[flat.num[j + 1]] end
    for j = 1, flat.Dc do
      local y = v[cat[j]]
      if type(y) == "number" and y == floor(y) and y >= 1 and y <= nc[j] then
        cv[j - 1] = y - eoff[j]
      else
        cv[j - 1] = flat.nohit
      end
    end
    return flat.eval(flat.c, flat.mu, flat.is, flat.col, flat.gain, x, cv, K, flat.t)
  end
  local m, sum = -huge, 0
  if D == 1 and dims[1].kind == "num" then
    -- the hot path of univariate TPE
    local dim = dims[1]
    local smu = dim.smu
    if smu then
      -- kernels in order of their means, outwards from x, until a term's bound falls below
      -- e^-40 of the running maximum (as the skip below)
      local x, sfw, sfis, n = v[1], dim.sfw, dim.sfis, dim.n
      local fwmax, c = dim.fwmax, 0.5 * dim.fismin * dim.fismin
      if dim.pfw then
        local z = (x - dim.pmu) * dim.pis
        m, sum = dim.pfw - 0.5 * z * z, 1
      end
      local lo, hi = 0, n -- the first mean >= x
      while lo < hi do
        local mid = floor((lo + hi) / 2)
        if smu[mid] < x then lo = mid + 1 else hi = mid end
      end
      -- outwards from x: right from the first mean >= x, then left; each side stops once no
      -- further kernel can matter (dx only enters squared, so one loop serves both sides)
      for side = 1, 2 do
        local k0, k1, step = lo, n - 1, 1
        if side == 2 then k0, k1, step = lo - 1, 0, -1 end
        for k = k0, k1, step do
          local dx = smu[k] - x
          if fwmax - c * dx * dx < m - 40 then break end
          local z = dx * sfis[k]
          local s = sfw[k] - 0.5 * z * z
          if s > m then
            sum = sum * exp(m - s) + 1
            m = s
          elseif s > m - 40 then
            sum = sum + exp(s - m)
          end
        end
      end
      return m + log(sum)
    end
    local fw = mix.flogw
    if not fw then
      fw = darr(K)
      for k = 1, K do fw[k - 1] = logw[k] + dim.lc[k] end
      mix.flogw = fw
    end
    local x, fmu, fis = v[1], dim.fmu, dim.fis
    for k = 0, K - 1 do
      local z = (x - fmu[k]) * fis[k]
      local s = fw[k] - 0.5 * z * z
      if s > m then
        sum = sum * exp(m - s) + 1
        m = s
      elseif s > m - 40 then -- smaller terms change the sum by less than e^-40 each
        sum = sum + exp(s - m)
      end
    end
    return m + log(sum)
  end
  -- one-pass logsumexp
  for k = 1, K do
    local s = logw[k]
    for d = 1, D do
      local dim = dims[d]
      if dim.kind == "cat" then
        s = s + (k > dim.n_data and dim.lprior or dim.col[k] == v[d] and dim.lhit or dim.lmiss)
      else
        local z = (v[d] - dim.fmu[k - 1]) * dim.fis[k - 1]
        s = s + dim.fc[k - 1] - 0.5 * z * z
      end
    end
    if s > m then
      sum = sum * exp(m - s) + 1
      m = s
    elseif s > -huge then
      sum = sum + exp(s - m)
    end
  end
  if m == -huge then return m end
  return m + log(sum)
end

-- TPE's acquisition: n draws from `below`, the one maximising log l(x) - log g(x).
function M.propose(below, above, n, rng, scale)
  local best, best_score
  for _ = 1, n do
    local v = M.sample(below, rng, scale)
    local score = M.logpdf(below, v) - M.logpdf(above, v)
    if best == nil or score > best_score then best, best_score = v, score end
  end
  return best, best_score
end

return M
