-- Test functions of the search benchmark (bench/search/bench.py mirrors them in Python).
local cos, exp, pi = math.cos, math.exp, math.pi
local F = {}

-- Branin on [-5, 10] x [0, 15]; minimum 0.397887.
function F.branin(x1, x2)
  local b, c, t = 5.1 / (4 * pi * pi), 5 / pi, 1 / (8 * pi)
  return (x2 - b * x1 * x1 + c * x1 - 6) ^ 2 + 10 * (1 - t) * cos(x1) + 10
end
F.branin_min = 0.397887

-- Hartmann6 on [0, 1]^6; minimum -3.32237.
local A = { { 10, 3, 17, 3.5, 1.7, 8 }, { 0.05, 10, 17, 0.1, 8, 14 },
  { 3, 3.5, 1.7, 10, 17, 8 }, { 17, 8, 0.05, 10, 0.1, 14 } }
local P = { { 1312, 1696, 5569, 124, 8283, 5886 }, { 2329, 4135, 8307, 3736, 1004, 9991 },
  { 2348, 1451, 3522, 2883, 3047, 6650 }, { 4047, 8828, 8732, 5743, 1091, 381 } }
local ALPHA = { 1.0, 1.2, 3.0, 3.2 }
function F.hartmann6(x)
  local s = 0
  for i = 1, 4 do
    local inner = 0
    for j = 1, 6 do inner = inner + A[i][j] * (x[j] - P[i][j] * 1e-4) ^ 2 end
    s = s + ALPHA[i] * exp(-inner)
  end
  return -s
end
F.hartmann6_min = -3.32237

-- Multi-fidelity Branin (Kandasamy et al. 2017, BOCA): fidelity z = budget / max_t in (0, 1];
-- at z = 1 it is Branin. Lower fidelities are cheaper, correlated and biased.
function F.branin_mf(x1, x2, z)
  local b = 5.1 / (4 * pi * pi) - 0.01 * (1 - z)
  local c = 5 / pi - 0.1 * (1 - z)
  local t = 1 / (8 * pi) + 0.05 * (1 - z)
  return (x2 - b * x1 * x1 + c * x1 - 6) ^ 2 + 10 * (1 - t) * cos(x1) + 10
end

return F
