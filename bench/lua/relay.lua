-- relay: move BYTES from one pipe to another through fdwire.
--
--   fdwire bench/lua/relay.lua RELAY_BIN BYTES
--
-- RELAY_BIN is the C baseline (bench/baseline/relay.c), started as source
-- and sink so only the relay in the middle differs from the C row. Like the
-- C and Python relays, it splices 64 KiB at a time, pipe to pipe
-- (fd.splice), so the data never enters Lua.
-- Prints: RESULT <MB/s> <seconds>
local relay_bin, nbytes = arg[1], tonumber(arg[2])
assert(relay_bin and nbytes, "usage: relay.lua RELAY_BIN BYTES")

local in_r, in_w = fd.pipe()
local out_r, out_w = fd.pipe()
local src = proc.spawn{relay_bin, "source", tostring(nbytes), fds = {[1] = in_w}}
local snk = proc.spawn{relay_bin, "sink", tostring(nbytes), fds = {[0] = out_r}}
in_w:close()
out_r:close()
local t0 = os.clock()
while fd.splice(in_r, out_w, 65536) > 0 do end
out_w:close()
local ok = snk:wait() == 0
local dt = os.clock() - t0
ok = src:wait() == 0 and ok
assert(ok, "relay: source or sink failed")
print(string.format("RESULT %.1f %.6f", nbytes / dt / 1e6, dt))
