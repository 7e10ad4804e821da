-- spawn: start /bin/true N times, one after the other, each with three
-- descriptors mapped to 3, 4 and 5, waiting for each to exit.
--
--   fdwire bench/lua/spawn.lua N
--
-- Prints: RESULT <spawns/s> <seconds> (os.clock is wall time in gopher-lua).
local n = tonumber(arg[1] or "1000")
local r, w = fd.pipe()
local m = fd.open("/dev/null", "r+")
local map = {[3] = r, [4] = w, [5] = m}
local spec = {"/bin/true", fds = map}
local spawn = proc.spawn
local t0 = os.clock()
for _ = 1, n do
	local code = spawn(spec):wait()
	if code ~= 0 then error("/bin/true exited " .. tostring(code)) end
end
local dt = os.clock() - t0
print(string.format("RESULT %.1f %.3f", n / dt, dt))
