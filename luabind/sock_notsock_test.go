package luabind

import "testing"

// A descriptor that is not a socket is refused with ENOTSOCK under the
// name of the call that was made: the SO_TYPE lookup behind it used to
// say "socket fd N", which names no function of the API.
func TestNotASocketNamesTheCall(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		local calls = {
			recvfds = function() return sock.recvfds(r) end,
			recvfds_many = function() return sock.recvfds_many(r) end,
			sendfds = function() return sock.sendfds(w, {}, "x") end,
			sendfds_many = function() return sock.sendfds_many(w, {"x"}) end,
			recvfrom = function() return sock.recvfrom(r) end,
		}
		for name, call in pairs(calls) do
			local ok, e = pcall(call)
			assert(not ok and e.name == "ENOTSOCK", name .. ": " .. tostring(e))
			assert(e.op == name, name .. " raised op " .. tostring(e.op) .. ": " .. tostring(e))
		end
		r:close() w:close()
	`)
}
