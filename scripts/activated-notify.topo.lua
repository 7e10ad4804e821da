-- A socket-activated server with sd_notify readiness, as systemd would run
-- it: fdwire binds api.sock (in the run directory), hands it over as
-- LISTEN_FDS=1 at fd 3 with LISTEN_PID and LISTEN_FDNAMES set, and waits
-- for READY=1 on $NOTIFY_SOCKET before it starts the client.
local server = [[
assert(os.getenv("LISTEN_PID") == tostring(proc.self().pid), "LISTEN_PID is not my pid")
assert(os.getenv("LISTEN_FDS") == "1" and os.getenv("LISTEN_FDNAMES") == "api")
local l = fd.from(3)
assert(l:info().listening, "fd 3 is not a listening socket")
local n = sock.socket("unix", "dgram")
sock.sendto(n, os.getenv("NOTIFY_SOCKET"), "READY=1\nSTATUS=serving")
n:close()
while true do
	local c = sock.accept(l)
	c:write("hello, activated\n")
	c:close()
end
]]

return topo.run_main({
	name = "activated-notify",
	timeout = 20,
	sockets = { api = { path = "api.sock" } },
	procs = {
		server = {
			argv = { topo.exe, "-e", server },
			listen = { "api" },
			ready = { notify = true },
		},
		client = {
			argv = { topo.exe, "-e", [[
				local c = sock.connect(os.getenv("FDWIRE_SOCK_API"))
				io.write(c:read())
			]] },
			depends_on = { "server" },
			expect = { exit = 0, stdout = "^hello, activated\n$" },
		},
	},
})
