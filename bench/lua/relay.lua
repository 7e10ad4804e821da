-- relay: move BYTES from one pipe to another through fdwire.
--
--   fdwire bench/lua/relay.lua RELAY_BIN BYTES
--
-- RELAY_BIN is the C baseline (bench/baseline/relay.c), started as source
-- and sink so only the relay in the middle differs from the C row. fdwire
-- has no splice binding, so the relay is Fd:read / Fd:write of 64 KiB
-- chunks: the data crosses into Lua strings and back.
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
while true do
	local chunk = in_r:read(65536)
	if not chunk then break end
	out_w:write(chunk)
end
out_w:close()
local ok = snk:wait() == 0
local dt = os.clock() - t0
ok = src:wait() == 0 and ok
assert(ok, "relay: source or sink failed")
print(string.format("RESULT %.1f %.6f", nbytes / dt / 1e6, dt))
