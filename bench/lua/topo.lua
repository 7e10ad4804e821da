-- topo: a topology of N processes brought up and torn down by the
-- topology engine: topo.up of N "/bin/sleep 1000" services (each with its
-- stdout and stderr captured, started in its own session, placed in the
-- topology's cgroup when there is one), then Topology:down (SIGTERM,
-- wait, sweep). The C and Python rows of this metric are bench/baseline/
-- procs.c and procs.py: plain spawn, kill and wait, no engine.
--
--   fdwire bench/lua/topo.lua N
--
-- Prints: RESULT <seconds for up and down> <up seconds> <down seconds>
local n = tonumber(arg[1])
assert(n, "usage: topo.lua N")
local procs = {}
for i = 1, n do
	procs["p" .. i] = {argv = {"/bin/sleep", "1000"}}
end
local t0 = os.clock()
local top = topo.up({name = "bench", procs = procs})
local t1 = os.clock()
local _, result = top:down()
local t2 = os.clock()
assert(result.reason == "down", "topology ended by " .. tostring(result.reason))
for name, p in pairs(result.procs) do
	assert(p.state == "stopped", name .. " is " .. tostring(p.state))
end
print(string.format("RESULT %.6f %.6f %.6f", t2 - t0, t1 - t0, t2 - t1))
