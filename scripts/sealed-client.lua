-- A sealed client: a process that holds nothing but what it is given.
--
-- A server listens on an anonymous socket (no name anywhere). A client runs
-- in new user, mount, net, pid, ipc and uts namespaces, in a root made of
-- nothing but a fresh tmpfs and ONE read-only directory handed in as a
-- handle; it has no /proc, no network (its own net namespace holds only
-- loopback), no_new_privs, and exactly its map: /dev/null at 0 (a Go
-- program needs 0-2 open and the root has no /dev), stdout, stderr, and a
-- connector to the server at 3. The program itself is run
-- from a handle (execveat), so it need not be in the root at all.
-- It reaches the server only through the connector, and reads one file
-- only through the directory its root was built from. See docs/isolation.md.
--
--   fdwire scripts/sealed-client.lua

-- A directory with one file, shown to the client at /data.
local tmp = (os.getenv("TMPDIR") or "/tmp") .. "/fdwire-sealed-" .. proc.self().pid
fs.mkdir(tmp)
local f = fd.open(tmp .. "/greeting.txt", "w")
f:write("hello from a file the client was handed\n")
f:close()
local data = fd.opendir(tmp)

-- The server's socket has no name: only handles reach it.
local listener, address = sock.bind_anon{type = "stream"}
local connector = sock.connector(address)

-- The client is fdwire itself, run from a handle. A statically linked
-- fdwire (CGO_ENABLED=0 go build) needs nothing in the root; a dynamically
-- linked one needs its loader and C library, so those are bound read-only.
local exe = fd.open("/proc/self/exe", "O_PATH")
local head = fd.open("/proc/self/exe", "r"):read(4096)
local root = {{bind = data, at = "/data", ro = true}}
if head:find("ld-linux", 1, true) or head:find("ld-musl", 1, true) then
	for _, dir in ipairs{"/lib", "/lib64", "/usr/lib", "/usr/lib64"} do
		if fs.exists(dir) then root[#root + 1] = {bind = dir, at = dir, ro = true} end
	end
	print("(fdwire is dynamically linked: its loader and libraries are bound read-only too)")
end

-- A TCP port open out here, which the client must not reach.
local tcp = sock.listen_on("tcp:127.0.0.1:0")
local port = fd.info(tcp).addr:match(":(%d+)$")

local client = [[
	local out = fd.from(1)
	local function try(f, ...) local ok, e = pcall(f, ...) return ok and "ok" or e.name end
	out:write("client sees /: " .. table.concat(fd.readdir(fd.opendir("/")), " ") .. "\n")
	out:write("client /proc/self: " .. try(fd.open, "/proc/self/status") .. "\n")
	out:write("client tcp:127.0.0.1:PORT (open outside): " .. try(sock.connect, "tcp:127.0.0.1:PORT") .. "\n")
	local d = fd.opendir("/data")
	out:write("client ../ from /data: " .. try(fd.openat, d, "..", "r", {resolve = {"beneath"}}) .. "\n")
	local text = fd.openat(d, "greeting.txt", "r", {resolve = {"beneath"}}):read(200)
	local s = sock.connect(fd.from(3))  -- the connector: a socket is returned
	s:write(text)
	s:close()
]]
local p = proc.spawn{"fdwire", "-e", (client:gsub("PORT", port)),
	exe = exe,
	namespaces = {"user", "mount", "net", "pid", "ipc", "uts"},
	root = root,
	no_new_privs = true,
	fds = {[1] = fd.stdout, [2] = fd.stderr, [3] = connector},
	stdin = "null",
	env = {},
}
exe:close()
connector:close() -- the client holds its own copy; the server serves until it is gone

local c = sock.accept(listener, {timeout = 20})
local got = c:read(200)
print("server got: " .. got)
local code = p:wait()

tcp:close()
os.remove(tmp .. "/greeting.txt")
os.remove(tmp)
assert(got == "hello from a file the client was handed\n", got)
assert(code == 0, "client exit " .. tostring(code))
