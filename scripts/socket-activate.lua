-- Socket activation: fdwire binds the socket, the server gets it at fd 3
-- with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (its own pid, set by
-- fdwire's trampoline), as under systemd. The server is a few lines of
-- python3 that never binds anything itself.

local function have(prog)
	local ok, p = pcall(proc.spawn, {"sh", "-c", "command -v " .. prog, stdout = "null"})
	return ok and p:wait() == 0
end
if not have("python3") then
	print("socket-activate: python3 is not installed; skipped")
	return
end

local server_code = [[
import os, socket
assert int(os.environ["LISTEN_PID"]) == os.getpid(), "LISTEN_PID is not my pid"
n = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"].split(":")
s = socket.socket(fileno=3)              # SD_LISTEN_FDS_START
c, _ = s.accept()
c.sendall(("hello from %s (%d socket), pid %d\n" % (names[0], n, os.getpid())).encode())
c.close()
]]

local l = sock.listen_on("tcp:127.0.0.1:0")
local addr = l:info().addr
local server = proc.spawn{"python3", "-c", server_code, listen = {l}, listen_names = {"web"}}
l:close()                                  -- the server holds it now

local c = sock.connect(addr)
local reply = c:read(200, {timeout = 20})
print(reply)
assert(reply:find("^hello from web %(1 socket%), pid " .. server:pid()), reply)
assert(server:wait{timeout = 20} == 0)
