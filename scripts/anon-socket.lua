-- anon-socket: a server on an anonymous unix socket, reachable only by the
-- processes it hands the address handle to.
--
-- sock.bind_anon makes a listening socket with no name in the file system
-- (and none in the abstract namespace) and an address handle: an O_PATH
-- descriptor of the socket's inode. Two clients are started with only that
-- handle, at fd 3; each connects through /proc/self/fd/3. One is a plain
-- python3 program, the other a second fdwire. See docs/anon.md.
local fdwire = os.getenv("FDWIRE") or arg[-1]

local listener, addr = sock.bind_anon{type = "stream"}
print(listener, addr)
assert(tostring(listener):match("^<fd %d+ unix/stream listening anon>$"))
assert(fd.info(addr).anon and fd.info(addr).path)

local python_client = [==[
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("/proc/self/fd/3")
s.sendall(b"hello from python")
assert s.recv(100) == b"welcome"
]==]

local fdwire_client = [==[
local c = sock.connect(fd.from(3))   -- an address handle: connect through it
c:write("hello from fdwire")
assert(c:read(100, {timeout = 10}) == "welcome")
]==]

local clients = {
	proc.spawn{"python3", "-c", python_client, fds = {[3] = addr}},
	proc.spawn{fdwire, "-e", fdwire_client, fds = {[3] = addr}},
}
addr:close() -- the clients hold their copies; the server needs none

local heard = {}
for _ = 1, #clients do
	local c = sock.accept(listener, {timeout = 10})
	local msg = c:read(100, {timeout = 10})
	heard[#heard + 1] = msg
	c:write("welcome")
	c:close()
end
for _, p in ipairs(clients) do
	local code = p:wait{timeout = 10}
	assert(code == 0, "client failed: " .. tostring(code))
end
table.sort(heard)
assert(heard[1] == "hello from fdwire" and heard[2] == "hello from python", table.concat(heard, ", "))
print(table.concat(heard, "\n"))

-- With the listener gone, the handle leads nowhere.
local l2, a2 = sock.bind_anon{}
l2:close()
local ok, err = pcall(sock.connect, a2)
assert(not ok and err.name == "ECONNREFUSED", tostring(err))
print("after close: " .. err.name)
