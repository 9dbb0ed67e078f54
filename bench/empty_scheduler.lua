-- The B5 baseline scheduler: does nothing, as cheaply as possible (a cursor instead of
-- fifo's scan). B5 subtracts a run with it from each scheduler's run.
local Empty = {}
Empty.__index = Empty
function Empty:setup(exp) self.exp, self.next = exp, 1 end
function Empty.on_trial_add() end
function Empty.on_trial_complete() end
function Empty.on_trial_error() end
function Empty.on_result() return "continue" end
function Empty:choose_trial_to_run()
  local trials = self.exp.trials
  local i = self.next
  while trials[i] and trials[i].status ~= "PENDING" do i = i + 1 end
  self.next = i
  return trials[i]
end
return function() return setmetatable({ name = "empty" }, Empty) end
