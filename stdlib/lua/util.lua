-- fdwire.util: small helpers shared by the stdlib modules.
local M = {}

-- M.errorf raises a structured error, the same value the primitives
-- raise (fdwire.errors sets errno from the name and the shared metatable).
local errors = require("fdwire.errors")
function M.errorf(op, name, msg, fields)
	error(errors.new(op, name, msg, fields), 0)
end

-- M.argerror raises "fn: bad argument #n (name): msg" as EINVAL, like a
-- binding's argument error.
function M.argerror(fn, n, name, msg)
	M.errorf(fn, "EINVAL", string.format("bad argument #%d (%s): %s", n, name, msg), { arg = n, argname = name })
end

return M
