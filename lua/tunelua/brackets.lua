-- HyperBand's bracket arithmetic (Li et al. 2018), shared by HyperBand and BOHB: how many
-- brackets, how many trials each starts with, and the budget of each rung. Integral powers
-- are computed by multiplication, and counts with a 1e-9 tolerance, so that max_t = 81,
-- eta = 3 gives the paper's table exactly.
--
-- API
--   brackets.EPS                     the tolerance (1e-9) used for budgets and counts
--   brackets.power(eta, k)           eta^k for an integer k >= 0, by multiplication
--   brackets.s_max(max_t, eta)       the largest s with eta^s <= max_t: floor(log_eta(max_t))
--   brackets.rungs(n, s, max_t, eta) the rungs of bracket s holding n trials, a list of
--                                    { n = n_i, r = r_i } for i = 0..s: n_i = floor(n * eta^-i),
--                                    at least 1 (a bracket closed with fewer trials than
--                                    planned still trains its best trial to max_t), and
--                                    r_i = max_t / eta^(s-i)
--   brackets.table(max_t, eta)       the paper's Table 1 (max_t = 81, eta = 3 by default): one
--                                    entry per bracket, in the order trials fill them (s = s_max
--                                    down to 0), { s = s, n = n, r = r, rungs = brackets.rungs() }
--                                    with n = ceil((s_max + 1) / (s + 1) * eta^s)
local floor, ceil, max = math.floor, math.ceil, math.max

local M = {}

local EPS = 1e-9
M.EPS = EPS

function M.power(eta, k)
  local p = 1
  for _ = 1, k do p = p * eta end
  return p
end

function M.s_max(max_t, eta)
  local s = 0
  while M.power(eta, s + 1) <= max_t * (1 + EPS) do s = s + 1 end
  return s
end

function M.rungs(n, s, max_t, eta)
  local out = {}
  for i = 0, s do
    out[i + 1] = { n = max(1, floor(n / M.power(eta, i) + EPS)), r = max_t / M.power(eta, s - i) }
  end
  return out
end

function M.table(max_t, eta)
  max_t, eta = max_t or 81, eta or 3
  local s_max = M.s_max(max_t, eta)
  local out = {}
  for s = s_max, 0, -1 do
    local n = ceil((s_max + 1) * M.power(eta, s) / (s + 1) - EPS)
    out[#out + 1] = { s = s, n = n, r = max_t / M.power(eta, s), rungs = M.rungs(n, s, max_t, eta) }
  end
  return out
end

return M
