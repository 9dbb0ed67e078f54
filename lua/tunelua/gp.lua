-- A small Gaussian process for PB2 (Parker-Holder et al., 2020, "Provably Efficient Online
-- Hyperparameter Optimization with Population-Based Bandits").
--
-- Inputs are rows x = { t, z1, ..., zd } with every coordinate scaled to [0, 1]; t is time.
-- The kernel is the paper's time-varying squared exponential (Ray's TV_SquaredExp):
--
--   k(x, x') = v · exp(-|z - z'|² / l) · (1 - eps)^(|t - t'| / 2)
--
-- with v = 1 (targets are standardized). The lengthscale l, the forgetting rate eps and the
-- noise variance are chosen by the log marginal likelihood over a small grid (GPy optimizes
-- them with L-BFGS; a grid keeps this file small and deterministic). Matrices are flat Lua
-- arrays, row-major, 1-based.
local exp, log, sqrt, abs, huge = math.exp, math.log, math.sqrt, math.abs, math.huge
local min, max = math.min, math.max
local setmetatable, error, ipairs = setmetatable, error, ipairs

local M = {}

M.grid = {
  lengthscale = { 0.1, 0.3, 1 },
  epsilon = { 0.01, 0.1, 0.5 },
  noise = { 0.001, 0.01, 0.1 },
}

-- x scaled from [lo, hi] to [0, 1] (0 when the range is empty).
function M.scale(x, lo, hi)
  if hi > lo then return (x - lo) / (hi - lo) end
  return 0
end

-- The smallest and largest of list[i][field] over the list.
function M.range(list, field)
  local lo, hi = huge, -huge
  for _, v in ipairs(list) do lo, hi = min(lo, v[field]), max(hi, v[field]) end
  return lo, hi
end

-- A new list of the values standardized to mean 0 and standard deviation 1 (population sd,
-- plus 1e-8 so that equal values do not divide by zero), clipped to [-clip, clip].
function M.standardize(values, clip)
  local n, mean, sq = #values, 0, 0
  for i = 1, n do mean = mean + values[i] end
  mean = mean / n
  for i = 1, n do sq = sq + (values[i] - mean) ^ 2 end
  local sd, out = sqrt(sq / n) + 1e-8, {}
  for i = 1, n do out[i] = min(clip, max(-clip, (values[i] - mean) / sd)) end
  return out
end

-- Squared distance over the non-time coordinates and the time distance of two rows.
local function dists(a, b)
  local d2 = 0
  for k = 2, #a do
    local d = a[k] - b[k]
    d2 = d2 + d * d
  end
  return d2, abs(a[1] - b[1])
end

function M.kernel(a, b, l, eps)
  local d2, dt = dists(a, b)
  return exp(-d2 / l) * (1 - eps) ^ (0.5 * dt)
end

-- Cholesky factor of the n×n symmetric positive definite matrix A (flat): a new flat lower
-- triangle L with A = L·Lᵀ, or nil when A is not positive definite.
function M.cholesky(A, n)
  local L = {}
  for i = 1, n * n do L[i] = 0 end
  for j = 1, n do
    local rj = (j - 1) * n
    local s = A[rj + j]
    for k = 1, j - 1 do s = s - L[rj + k] * L[rj + k] end
    if s <= 0 or s ~= s then return nil end
    local d = sqrt(s)
    L[rj + j] = d
    for i = j + 1, n do
      local ri = (i - 1) * n
      local v = A[ri + j]
      for k = 1, j - 1 do v = v - L[ri + k] * L[rj + k] end
      L[ri + j] = v / d
    end
  end
  return L
end

-- Solves L·x = b (forward) for a flat lower triangle L; returns a new x.
local function forward(L, n, b)
  local x = {}
  for i = 1, n do
    local ri = (i - 1) * n
    local s = b[i]
    for k = 1, i - 1 do s = s - L[ri + k] * x[k] end
    x[i] = s / L[ri + i]
  end
  return x
end
M.forward = forward

-- Solves Lᵀ·x = b (backward).
local function backward(L, n, b)
  local x = {}
  for i = n, 1, -1 do
    local s = b[i]
    for k = i + 1, n do s = s - L[(k - 1) * n + i] * x[k] end
    x[i] = s / L[(i - 1) * n + i]
  end
  return x
end
M.backward = backward

local Model = {}
Model.__index = Model

-- The GP posterior for rows X (n rows) and targets y with fixed hyperparameters, or nil when
-- the kernel matrix is not positive definite; also returns the log marginal likelihood.
-- E and P (optional) are the precomputed flat matrices exp(-d²/l) and (1-eps)^(dt/2).
function M.posterior(X, y, l, eps, noise, E, P)
  local n = #X
  local K = {}
  for i = 1, n do
    local ri = (i - 1) * n
    for j = 1, n do
      local idx = ri + j
      local k
      if E then
        k = E[idx] * P[idx]
      else
        local d2, dt = dists(X[i], X[j])
        k = exp(-d2 / l) * (1 - eps) ^ (0.5 * dt)
      end
      K[idx] = i == j and k + noise or k
    end
  end
  local L = M.cholesky(K, n)
  if not L then return nil end
  local alpha = backward(L, n, forward(L, n, y))
  local lml = -0.5 * n * log(2 * math.pi)
  for i = 1, n do lml = lml - 0.5 * y[i] * alpha[i] - log(L[(i - 1) * n + i]) end
  return setmetatable({ X = X, y = y, n = n, L = L, alpha = alpha, l = l, eps = eps,
    noise = noise }, Model), lml
end

-- Fits the hyperparameters by the log marginal likelihood over M.grid. Returns the model
-- (nil for no data).
function M.fit(X, y)
  local n = #X
  if n == 0 then return nil end
  local D2, DT = {}, {}
  for i = 1, n do
    for j = 1, n do
      D2[(i - 1) * n + j], DT[(i - 1) * n + j] = dists(X[i], X[j])
    end
  end
  local g = M.grid
  local Es, Ps = {}, {}
  for a, l in ipairs(g.lengthscale) do
    local E = {}
    for i = 1, n * n do E[i] = exp(-D2[i] / l) end
    Es[a] = E
  end
  for b, eps in ipairs(g.epsilon) do
    local P = {}
    for i = 1, n * n do P[i] = (1 - eps) ^ (0.5 * DT[i]) end
    Ps[b] = P
  end
  local best, best_lml = nil, -huge
  for a, l in ipairs(g.lengthscale) do
    for b, eps in ipairs(g.epsilon) do
      for _, noise in ipairs(g.noise) do
        local m, lml = M.posterior(X, y, l, eps, noise, Es[a], Ps[b])
        if m and lml > best_lml then best, best_lml = m, lml end
      end
    end
  end
  if not best then error("gp: the kernel matrix is not positive definite for any setting", 2) end
  return best
end

-- The same hyperparameters on other data (PB2's second GP, which only needs variances).
function Model:refit(X, y)
  return (M.posterior(X, y, self.l, self.eps, self.noise))
end

-- The same hyperparameters with `rows` added to the data at y = 0 (itself when there are
-- none, or when that kernel matrix is not positive definite). Its variance shrinks near
-- points already chosen, so that a batch of UCB picks spreads out (PB2).
function Model:with_pending(rows)
  if not rows or #rows == 0 then return self end
  local X, y = {}, {}
  for i = 1, self.n do X[i], y[i] = self.X[i], self.y[i] end
  for _, r in ipairs(rows) do X[#X + 1], y[#y + 1] = r, 0 end
  return self:refit(X, y) or self
end

-- Posterior mean at row x.
function Model:mean(x)
  local X, l, eps, alpha = self.X, self.l, self.eps, self.alpha
  local mean = 0
  for i = 1, self.n do
    local d2, dt = dists(x, X[i])
    mean = mean + exp(-d2 / l) * (1 - eps) ^ (0.5 * dt) * alpha[i]
  end
  return mean
end

-- Posterior mean and variance (of the latent function, without the noise) at row x.
function Model:predict(x)
  local n, X, l, eps = self.n, self.X, self.l, self.eps
  local ks = {}
  local mean = 0
  for i = 1, n do
    local d2, dt = dists(x, X[i])
    local k = exp(-d2 / l) * (1 - eps) ^ (0.5 * dt)
    ks[i] = k
    mean = mean + k * self.alpha[i]
  end
  local v = forward(self.L, n, ks)
  local var = 1
  for i = 1, n do var = var - v[i] * v[i] end
  return mean, max(var, 0)
end

-- Maximizes the upper confidence bound mean_m(x) + kappa · sd_m1(x) over the free coordinates
-- x = { fixed..., z1..zd } with z in [0, 1]^d: `candidates` uniform random points, then
-- `refine` Gaussian steps around the best with a shrinking radius. rng is the caller's.
-- Returns the best z (a list of d numbers) and its score.
function M.maximize_ucb(m, m1, fixed, d, kappa, rng, candidates, refine)
  local x = {}
  for i = 1, #fixed do x[i] = fixed[i] end
  local nf = #fixed
  local function score(z)
    for k = 1, d do x[nf + k] = z[k] end
    local mu = m:mean(x)
    local _, var = m1:predict(x)
    return mu + kappa * sqrt(var)
  end
  local best, best_s = nil, -huge
  for _ = 1, candidates or 256 do
    local z = {}
    for k = 1, d do z[k] = rng:random() end
    local s = score(z)
    if s > best_s then best, best_s = z, s end
  end
  local radius = 0.1
  for i = 1, refine or 64 do
    local z = {}
    for k = 1, d do z[k] = min(1, max(0, best[k] + rng:normal(0, radius))) end
    local s = score(z)
    if s > best_s then best, best_s = z, s end
    if i % 16 == 0 then radius = radius / 2 end
  end
  return best, best_s
end

return M
