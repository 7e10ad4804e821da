-- fdwire.util: small helpers shared by the stdlib modules.
local M = {}

-- M.errorf raises a structured error shaped like the primitives' errors.
function M.errorf(op, name, msg)
	local errno = ({ EINVAL = 22, ENOENT = 2, EPERM = 1, EEXIST = 17, EADDRINUSE = 98, ETIMEDOUT = 110 })[name] or 0
	error(setmetatable({ op = op, name = name, errno = errno, msg = msg },
		{ __tostring = function(e) return e.op .. ": " .. e.name .. ": " .. e.msg end }), 0)
end

return M
