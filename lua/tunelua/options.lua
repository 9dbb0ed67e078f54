-- Checking a scheduler's or searcher's options in one call, so each algorithm file states
-- its options as a table instead of a page of ifs:
--
--   local o = options.check("asha", opts, {
--     time_attr = { "training_iteration", "string" },    -- { default, kind }
--     max_t = { 100, "number>0" }, brackets = { 1, "int>=1" },
--     metric = { nil, "string" },                         -- nil default: optional
--   })
--
-- Kinds: "string", "boolean", "table", "function", "mode" ("max"/"min"), "number",
-- "number>0", "number>1", "number>=0", ">=0" (not NaN, math.huge allowed: "never"), "int>=0",
-- "int>=1", "fraction" (0 < x < 1),
-- "probability" (0 <= x <= 1), "any", or a function(v) -> true | false, "what it must be".
-- A third field words WHAT for a named kind: { "training_iteration", "string", "a result name" }.
-- Errors read "NAME: OPTION must be WHAT, got VALUE" or "NAME: unknown option 'X' (accepted:
-- ...)" and point at the line that called the constructor.
local type, pairs, tostring, error, format = type, pairs, tostring, error, string.format
local floor, huge, sort, concat = math.floor, math.huge, table.sort, table.concat

local M = {}

local function finite(v) return type(v) == "number" and v == v and v > -huge and v < huge end

local kinds = {
  string = { function(v) return type(v) == "string" and v ~= "" end, "a non-empty string" },
  boolean = { function(v) return type(v) == "boolean" end, "a boolean" },
  table = { function(v) return type(v) == "table" end, "a table" },
  ["function"] = { function(v) return type(v) == "function" end, "a function" },
  mode = { function(v) return v == "max" or v == "min" end, '"max" or "min"' },
  number = { finite, "a finite number" },
  ["number>0"] = { function(v) return finite(v) and v > 0 end, "a finite number > 0" },
  ["number>1"] = { function(v) return finite(v) and v > 1 end, "a finite number > 1" },
  ["number>=0"] = { function(v) return finite(v) and v >= 0 end, "a finite number >= 0" },
  [">=0"] = { function(v) return type(v) == "number" and v >= 0 end, "a number >= 0" },
  ["int>=0"] = { function(v) return finite(v) and v >= 0 and v == floor(v) end, "an integer >= 0" },
  ["int>=1"] = { function(v) return finite(v) and v >= 1 and v == floor(v) end, "an integer >= 1" },
  fraction = { function(v) return finite(v) and v > 0 and v < 1 end, "a number in (0, 1)" },
  probability = { function(v) return finite(v) and v >= 0 and v <= 1 end, "a number in [0, 1]" },
  any = { function() return true end, "anything" },
}

-- Returns a fresh table: every schema key with the given value or its default.
function M.check(name, opts, schema, level)
  level = (level or 2) + 1
  if opts ~= nil and type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", name, type(opts)), level)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if schema[k] == nil then
      local names = {}
      for n in pairs(schema) do names[#names + 1] = tostring(n) end
      sort(names)
      local accepted = #names > 0 and "accepted: " .. concat(names, ", ") or name .. " takes none"
      error(format("%s: unknown option '%s' (%s)", name, tostring(k), accepted), level)
    end
  end
  local out = {}
  for k, spec in pairs(schema) do
    local v = opts[k]
    if v == nil then
      out[k] = spec[1]
    else
      local ok, what
      if type(spec[2]) == "string" then
        local kind = assert(kinds[spec[2]], "options: unknown kind " .. spec[2])
        ok, what = kind[1](v), spec[3] or kind[2]
      else
        ok, what = spec[2](v)
      end
      if not ok then
        error(format("%s: %s must be %s, got %s", name, k, what or "valid", tostring(v)), level)
      end
      out[k] = v
    end
  end
  return out
end

-- For checks between options ("grace_period must be <= max_t"), with the same position.
function M.fail(name, level, fmt, ...)
  error(name .. ": " .. format(fmt, ...), (level or 2) + 1)
end

-- The metric and mode a scheduler ranks by: its own options' (o.metric, o.mode), else the
-- experiment's. A scheduler calls it from setup, where there is no user line to point at.
function M.metric_mode(name, o, exp)
  local metric, mode = o.metric or exp.metric, o.mode or exp.mode
  if type(metric) ~= "string" or (mode ~= "max" and mode ~= "min") then
    error(format("%s: needs a metric and a mode (got metric %s, mode %s): set them in the " ..
      "experiment or in %s { metric = ..., mode = ... }", name, tostring(metric), tostring(mode),
      name), 0)
  end
  return metric, mode
end

return M
