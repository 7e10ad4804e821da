-- sd_notify the systemd way, from the service's side: the service puts a
-- memfd holding its cache in the fd store (FDSTORE=1 with FDNAME=cache,
-- the descriptor passed with SCM_RIGHTS over $NOTIFY_SOCKET), says
-- READY=1 with a STATUS=, and keeps reporting after it is ready. fdwire
-- keeps draining the socket, so the summary shows the last STATUS= and
-- the watchdog count, and the stored memfd (which a test would take with
-- top:fdstore("cache")) is closed at teardown and said so. The client
-- starts once the service is ready. Run it with `fdwire
-- scripts/notify-fdstore.topo.lua` or `fdwire up` it.
local service = [[
local n = sock.connect("dgram", os.getenv("NOTIFY_SOCKET"))
local cache = fd.memfd("cache")
cache:write("warm entries\n")
sock.sendfds(n, { cache }, "FDSTORE=1\nFDNAME=cache")
cache:close()
sock.sendfds(n, {}, "READY=1\nSTATUS=serving, cache stored")
for i = 1, 3 do sock.sendfds(n, {}, "WATCHDOG=1\nSTATUS=serving, tick " .. i) end
n:close()
task.sleep(60)
]]

return topo.run_main({
	name = "notify-fdstore",
	timeout = 20,
	procs = {
		cache = {
			argv = { topo.exe, "-e", service },
			ready = { notify = true },
		},
		client = {
			sh = "echo client ran",
			depends_on = { "cache" },
			expect = { exit = 0, stdout = "^client ran\n$" },
		},
	},
})
