-- A scheduler written for docs/research.md: learning-curve extrapolation, after Domhan et al.
-- (2015). Every `interval` iterations from `min_t` on, fit pow3, y(t) = c + a t^-alpha, to the
-- trial's curve so far (least squares in c and a for each alpha of a small grid) and predict
-- its value at max_t; stop the trial when that prediction is worse than the best value any
-- trial has reported, by more than `slack`. Compare it with the built-ins:
--
--   ./tunelua compare examples/research/mf.lua \
--       --schedulers fifo,asha,median,examples/research/extrapolate.lua --repeat 5
local ALPHAS = { 0.25, 0.5, 0.75, 1, 1.5, 2 }

local Extrapolate = {}
Extrapolate.__index = Extrapolate

function Extrapolate:setup(exp)
  self.metric = exp.metric
  self.sign = exp.mode == "max" and -1 or 1 -- sign * value: lower is better
  self.curves = {} -- trial id -> { t = {...}, y = {...} } (sign * value)
  self.best = math.huge
end

-- The fitted pow3 curve's value at max_t (lower is better), or nil when it cannot be fitted.
local function predict(curve, max_t)
  local best_sse, best_pred
  for _, alpha in ipairs(ALPHAS) do
    -- y = c + a x with x = t^-alpha: ordinary least squares
    local n, sx, sy, sxx, sxy = #curve.t, 0, 0, 0, 0
    for i = 1, n do
      local x, y = curve.t[i] ^ -alpha, curve.y[i]
      sx, sy, sxx, sxy = sx + x, sy + y, sxx + x * x, sxy + x * y
    end
    local den = n * sxx - sx * sx
    if den > 1e-12 then
      local a = (n * sxy - sx * sy) / den
      local c = (sy - a * sx) / n
      local sse = 0
      for i = 1, n do sse = sse + (c + a * curve.t[i] ^ -alpha - curve.y[i]) ^ 2 end
      if not best_sse or sse < best_sse then best_sse, best_pred = sse, c + a * max_t ^ -alpha end
    end
  end
  return best_pred
end

function Extrapolate:on_result(trial, result)
  local y, t = result[self.metric], result.training_iteration
  if type(y) ~= "number" then return "continue" end
  y = self.sign * y
  if y < self.best then self.best = y end
  local curve = self.curves[trial.id]
  if not curve then
    curve = { t = {}, y = {} }
    self.curves[trial.id] = curve
  end
  curve.t[#curve.t + 1], curve.y[#curve.y + 1] = t, y
  if t < self.min_t or t % self.interval ~= 0 or t >= self.max_t then return "continue" end
  local final = predict(curve, self.max_t)
  if final and final > self.best + self.slack then return "stop" end
  return "continue"
end

return function(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "max_t" and k ~= "min_t" and k ~= "interval" and k ~= "slack" then
      error("extrapolate: unknown option '" .. tostring(k) .. "' (max_t, min_t, interval, " ..
        "slack)", 2)
    end
  end
  local o = { name = "extrapolate", max_t = opts.max_t or 81, min_t = opts.min_t or 3,
    interval = opts.interval or 3, slack = opts.slack or 0 }
  for _, k in ipairs { "max_t", "min_t", "interval" } do
    if type(o[k]) ~= "number" or o[k] < 1 then error("extrapolate: " .. k .. " must be >= 1", 2) end
  end
  if type(o.slack) ~= "number" then error("extrapolate: slack must be a number", 2) end
  return setmetatable(o, Extrapolate)
end
