-- Take a descriptor out of a running process, both ways the kernel
-- offers, and see the difference:
--   mode="dup"    pidfd_getfd: the same open file description (shared offset)
--   mode="reopen" open /proc/PID/fd/N: a new description (its own offset)

local m = fd.memfd("journal")
m:write("first line\nsecond line\n")      -- the shared offset is now at the end
local child = proc.spawn{"sleep", "30", fds = {[5] = m}}
m:close()                                  -- only the child holds it now

local dup = proc.getfd(child, 5)           -- the default mode is "dup"
local fresh = proc.getfd(child, 5, {mode = "reopen"})

-- The dup shares the child's offset, which is at the end: nothing to read.
assert(dup:read(100) == nil)
-- The reopened file starts at offset 0.
local text = fresh:read(100)
assert(text == "first line\nsecond line\n", text)

-- Writing through the dup moves the child's offset too; a new reopen
-- sees everything from the start.
dup:write("third line\n")
local again = proc.getfd(child, 5, {mode = "reopen"})
assert(again:read(100) == "first line\nsecond line\nthird line\n")

-- Sockets cannot be reopened; the error says to use "dup".
local l = sock.listen_on("@")
local holder = proc.spawn{"sleep", "30", fds = {[3] = l}}
local ok, e = pcall(proc.getfd, holder, 3, {mode = "reopen"})
assert(not ok and e.name == "ENXIO", tostring(e))
assert(proc.getfd(holder, 3):info().listening)

print("dup: shared offset (read nothing, the child's offset is at the end)")
print("reopen: own offset, read " .. #text .. " bytes from the start")
child:kill(); holder:kill()
child:wait(); holder:wait()
