-- The B5 baseline searcher: the same constant config for every trial, up to the
-- experiment's num_samples. B5 subtracts a run with it from each searcher's run.
local Empty = {}
Empty.__index = Empty
function Empty:setup(exp) self.total, self.count = exp.num_samples or 1, 0 end
function Empty:suggest()
  if self.count >= self.total then return nil end
  self.count = self.count + 1
  return { lr = 0.01, wd = 0.1, act = "relu", layers = 2 }
end
function Empty.on_result() end
function Empty.on_complete() end
return function() return setmetatable({ name = "empty" }, Empty) end
