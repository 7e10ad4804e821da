-- The same abstract name in two topologies at once. Each topology binds
-- @fdwire-parallel-demo and runs a server on it and a client that connects
-- to it by name; with netns = true each run has a private network
-- namespace, so both binds succeed and each client reaches its own
-- server. The script holds the same name in its own namespace meanwhile:
-- without netns every bind would fail with EADDRINUSE.
-- Needs root (a network namespace of fdwire's own needs CAP_SYS_ADMIN).
--
--   fdwire scripts/parallel-netns.topo.lua     (both runs at once)
--   fdwire up scripts/parallel-netns.topo.lua  (one run)

local server = [[
local c = sock.accept(fd.from(3))
c:write("from server " .. arg[1])
c:close()
]]
local client = [[
local c = sock.connect("@fdwire-parallel-demo")
print(c:read(100))
]]

local function def(which)
	return {
		name = "parallel-netns-" .. which,
		netns = true,
		timeout = 20,
		sockets = { api = { abstract = "fdwire-parallel-demo" } },
		procs = {
			server = { argv = { topo.exe, "-e", server, which }, fds = { [3] = "api" } },
			client = {
				argv = { topo.exe, "-e", client },
				depends_on = { server = "started" },
				expect = { exit = 0, stdout = "^from server " .. which .. "\n$" },
			},
		},
	}
end

if topo.loading() then return def("a") end
if proc.self().uid ~= 0 then
	print("skipped: netns = true needs root (CAP_SYS_ADMIN for fdwire's own network namespace)")
	return
end
-- Hold the name out here too: without netns = true the topologies' binds
-- would now fail with EADDRINUSE, and a client could reach this socket.
local outside = sock.listen_on("@fdwire-parallel-demo")
local tops = { topo.up(def("a")), topo.up(def("b")) }
for _, t in ipairs(tops) do
	local _, r = t:wait()
	print(topo.summary(r))
	assert(r.code == 0, "topology " .. t.def.name .. " failed")
end
outside:close()
