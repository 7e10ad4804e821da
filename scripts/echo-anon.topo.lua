-- An echo server and two clients wired by an anonymous socket: the server
-- is handed the listener at fd 3, each client the address handle at fd 4
-- (sock.bind_anon: no path anyone else could find or squat). Clients start
-- once the server says it is listening, and must each get their own words
-- back. Run it with `fdwire scripts/echo-anon.topo.lua`, `fdwire up` it,
-- or draw it with `fdwire graph -o echo-anon.svg scripts/echo-anon.topo.lua`.
local server = [[
local l = fd.from(3)
print("listening")
while true do
	local c = sock.accept(l)
	task.spawn(function()
		while true do
			local s = c:read()
			if not s then break end
			c:write(s)
		end
		c:close()
	end)
end
]]

local client = [[
local c = sock.connect(fd.from(4))
c:write("hello from " .. arg[1])
sock.shutdown(c, "write")
local got = {}
while true do
	local s = c:read()
	if not s then break end
	got[#got + 1] = s
end
print("echo: " .. table.concat(got))
]]

return topo.run_main({
	name = "echo-anon",
	timeout = 20,
	sockets = { api = { anon = true } },
	procs = {
		server = {
			argv = { topo.exe, "-e", server },
			fds = { [3] = "api" },
			ready = { stdout = "listening" },
		},
		client1 = {
			argv = { topo.exe, "-e", client, "client1" },
			fds = { [4] = "api.addr" },
			depends_on = { server = "ready" },
			expect = { exit = 0, stdout = "^echo: hello from client1\n$" },
		},
		client2 = {
			argv = { topo.exe, "-e", client, "client2" },
			fds = { [4] = "api.addr" },
			depends_on = { server = "ready" },
			expect = { exit = 0, stdout = "^echo: hello from client2\n$" },
		},
	},
})
