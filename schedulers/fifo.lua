-- FIFO: every trial runs to the end in the order it was added; no early
-- stopping. The baseline every other scheduler is compared with.

local type, pairs, ipairs, error, tostring, setmetatable =
  type, pairs, ipairs, error, tostring, setmetatable

local Fifo = {}
Fifo.__index = Fifo

function Fifo:setup(exp)
  self.exp = exp
end

-- FIFO keeps no per-trial state and never stops a trial early.
local function nothing() end
Fifo.on_trial_add = nothing
Fifo.on_trial_complete = nothing
Fifo.on_trial_error = nothing

function Fifo.on_result()
  return "continue"
end

-- The first PENDING trial in the engine's order, else the first PAUSED one, among those
-- that fit the free resources now (exp.fits): a big trial waiting for room does not hold
-- back smaller ones behind it.
function Fifo:choose_trial_to_run()
  local trials = self.exp and self.exp.trials
  if not trials then return nil end
  local fits = self.exp.fits
  local paused
  for _, t in ipairs(trials) do
    local s = t.status
    if (s == "PENDING" or (s == "PAUSED" and not paused)) and (not fits or fits(t)) then
      if s == "PENDING" then return t end
      paused = t
    end
  end
  return paused
end

-- fifo takes no options; any given is a mistake worth reporting.
return function(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("fifo: options must be a table, got " .. type(opts), 2)
  end
  for k in pairs(opts or {}) do
    error("fifo: unknown option '" .. tostring(k) .. "' (fifo takes no options)", 2)
  end
  return setmetatable({ name = "fifo" }, Fifo)
end
