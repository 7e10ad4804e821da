-- procs: bring N processes up and down: proc.spawn N "/bin/sleep 1000",
-- then kill each (SIGTERM) and wait for all of them.
--
--   fdwire bench/lua/procs.lua N
--
-- This stands in for "a 1000-process topology up and down" until the
-- topology engine (topo.up / :down) exists; it measures the same
-- spawn, signal and reap work without the engine's bookkeeping.
-- Prints: RESULT <seconds for up and down> <up seconds> <down seconds>
local n = tonumber(arg[1])
assert(n, "usage: procs.lua N")
local t0 = os.clock()
local ps = {}
for i = 1, n do
	ps[i] = proc.spawn{"/bin/sleep", "1000"}
end
local t1 = os.clock()
for i = 1, n do
	ps[i]:kill("TERM")
end
for i = 1, n do
	ps[i]:wait()
end
local t2 = os.clock()
print(string.format("RESULT %.6f %.6f %.6f", t2 - t0, t1 - t0, t2 - t1))
