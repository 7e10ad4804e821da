package luabind

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/testtool"
)

// anonLua prefixes code with PY (a python3 path), TMP (a fresh directory)
// and CLIENT (a python client that connects through fd 3, says hello and
// prints the reply).
func anonLua(t *testing.T, code string) string {
	return `local PY, TMP = "` + testtool.Python(t) + `", "` + t.TempDir() + `"
local CLIENT = [==[
import os, socket, sys
typ = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET, "dgram": socket.SOCK_DGRAM}[sys.argv[1]]
s = socket.socket(socket.AF_UNIX, typ)
msg = ("hello from uid %d" % os.getuid()).encode()
if typ == socket.SOCK_DGRAM:
    s.sendto(msg, "/proc/self/fd/3")
else:
    s.connect("/proc/self/fd/3")
    s.sendall(msg)
    print(s.recv(100).decode())
]==]
local function empty(dir)
  local p = io.popen("ls -A " .. dir)
  local out = p:read("*a")
  p:close()
  assert(out == "", "left on disk in " .. dir .. ": " .. out)
end
local function readall(r)
  local t = {}
  while true do -- not a generic for: yielding inside its iterator breaks gopher-lua
    local s = r:read(100)
    if not s then break end
    t[#t + 1] = s
  end
  return table.concat(t)
end
` + code
}

func TestLuaBindAnonPythonClients(t *testing.T) {
	mustRun(t, anonLua(t, `
for _, typ in ipairs{"stream", "seqpacket", "dgram"} do
  local l, addr = sock.bind_anon{type = typ, dir = TMP}
  empty(TMP)
  local r, w = fd.pipe()
  local p = proc.spawn{PY, "-c", CLIENT, typ, fds = {[1] = w, [3] = addr}}
  w:close()
  if typ == "dgram" then
    local data, from = sock.recvfrom(l, {timeout = 10})
    assert(data == "hello from uid 0", data)
    assert(from == nil, tostring(from))
  else
    local c = sock.accept(l, {timeout = 10})
    assert(tostring(c):find("anon"), tostring(c))
    local got = c:read(100); assert(got == "hello from uid 0", tostring(got))
    c:write("welcome")
    c:close()
    local rep = readall(r); assert(rep == "welcome\n", tostring(rep))
  end
  assert(p:wait() == 0)
  r:close(); l:close(); addr:close()
  empty(TMP)
end
`))
}

func TestLuaBindAnonToString(t *testing.T) {
	mustRun(t, `
local l, addr = sock.bind_anon{}
local s = tostring(l)
assert(s:match("^<fd %d+ unix/stream listening anon>$"), s)
assert(tostring(addr):match("^<fd %d+ socket path anon address unix/stream>$"), tostring(addr))
local i = fd.info(addr)
assert(i.anon and i.path and i.kind == "socket", "info")
assert(fd.info(l).anon and fd.info(l).listening and fd.info(l).addr == nil)
local d = sock.bind_anon{type = "dgram"}
assert(tostring(d):match("unix/dgram anon>$"), tostring(d))
`)
}

func TestLuaBindAnonInProcessAllTypes(t *testing.T) {
	mustRun(t, `
for _, typ in ipairs{"stream", "seqpacket"} do
  local l, addr = sock.bind_anon{type = typ, backlog = 4}
  local c = sock.connect(addr)        -- the handle knows its type
  assert(fd.info(c).type == typ and fd.info(c).anon)
  local a = sock.accept(l)
  c:write("x")
  assert(a:read(1) == "x")
  -- an explicit type and an existing socket work too
  local c2 = sock.connect(typ, addr)
  local s = sock.socket("unix", typ)
  sock.connect(s, addr)
  sock.accept(l):close(); sock.accept(l):close()
end
local l, addr = sock.bind_anon{type = "dgram"}
local s = sock.socket("unix", "dgram")
assert(sock.sendto(s, addr, "one") == 3)
local c = sock.connect(addr)
c:write("two")
assert(sock.recvfrom(l) == "one")
assert(sock.recvfrom(l) == "two")
`)
}

func TestLuaBindAnonUnprivilegedClient(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a client as uid 65534")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (util-linux)")
	}
	mustRun(t, anonLua(t, `
local l, addr = sock.bind_anon{}
local r, w = fd.pipe()
local p = proc.spawn{"`+setpriv+`", "--reuid=65534", "--regid=65534", "--clear-groups", PY, "-c", CLIENT, "stream",
  fds = {[1] = w, [3] = addr}}
w:close()
local c = sock.accept(l, {timeout = 10})
assert(c:read(100) == "hello from uid 65534")
local peer = sock.peer(c)
assert(peer.uid == 65534, peer.uid)
if peer.pidfd then peer.pidfd:close() end
c:write("ok")
c:close()
assert(readall(r) == "ok\n")
assert(p:wait() == 0)
`))
}

func TestLuaBindAnonRefusedAfterClose(t *testing.T) {
	mustRun(t, `
local l, addr = sock.bind_anon{}
l:close()
local ok, err = pcall(sock.connect, addr)
assert(not ok and err.name == "ECONNREFUSED", tostring(err))
assert(tostring(err):find("listener was closed"), tostring(err))
-- the listener's own fd is not an address
local l2 = sock.bind_anon{}
ok, err = pcall(sock.connect, "stream", l2)
assert(not ok and err.name == "ECONNREFUSED" and tostring(err):find("not an address handle"), tostring(err))
`)
}

func TestLuaPublish(t *testing.T) {
	mustRun(t, anonLua(t, `
local scratch = TMP .. "/scratch"
os.execute("mkdir " .. scratch)
local l, addr = sock.bind_anon{publishable = true, dir = scratch}
sock.publish(addr, TMP .. "/pub.sock")
empty(scratch)
local c = sock.connect(TMP .. "/pub.sock")
sock.accept(l):close()
c:close()
local ok, err = pcall(sock.publish, addr, TMP .. "/two.sock")
assert(not ok and err.name == "EEXIST" and tostring(err):find("already published"), tostring(err))
l:close()
os.execute("rmdir " .. scratch)
empty(TMP)          -- the public name went with the listener

local l2, a2 = sock.bind_anon{}
ok, err = pcall(sock.publish, a2, TMP .. "/np.sock")
assert(not ok and err.name == "EINVAL" and tostring(err):find("publishable=true"), tostring(err))
local r, w = fd.pipe()
ok, err = pcall(sock.publish, r, TMP .. "/np.sock")
assert(not ok and tostring(err):find("bad argument #1 %(address%)"), tostring(err))
empty(TMP)
`))
}

// TestLuaPublishableCleanedOnError: a script that fails with a
// publishable, unpublished handle open leaves nothing behind.
func TestLuaPublishableCleanedOnError(t *testing.T) {
	dir := t.TempDir()
	mustFail(t, `
local l, addr = sock.bind_anon{publishable = true, dir = "`+dir+`"}
local sock2 = sock.bind_anon{publishable = true, dir = "`+dir+`"}
error("boom")
`, "boom")
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestLuaLongPath(t *testing.T) {
	mustRun(t, anonLua(t, `
local d = TMP
while #d < 240 do
  d = d .. "/" .. string.rep("d", 50)
  assert(os.execute("mkdir " .. d) == 0 or true)
end
local path = d .. "/" .. string.rep("s", 300 - #d - 1)
assert(#path == 300)
local l = sock.listen_on(path)
local c = sock.connect(path)
local a = sock.accept(l)
c:write("long")
assert(a:read(4) == "long")
local s = sock.socket("unix", "stream")
sock.bind(s, path .. "2")
sock.listen(s)
local dir = fd.open(d, "O_PATH|O_DIRECTORY")
local c2 = sock.connect_at(dir, string.rep("s", 300 - #d - 1) .. "2")
sock.accept(s):close()
local s3 = sock.socket("unix", "seqpacket")
sock.bind_at(s3, dir, "at.sock")
sock.listen(s3)
local c3 = sock.connect_at(dir, "at.sock", {type = "seqpacket"})
local c4 = sock.socket("unix", "seqpacket")
assert(sock.connect_at(c4, dir, "at.sock") == c4)
sock.accept(s3):close(); sock.accept(s3):close()
local ok, err = pcall(sock.connect_at, dir, "missing")
assert(not ok and err.name == "ENOENT", tostring(err))
os.execute("rm -rf " .. TMP .. "/*")
`))
}

func TestLuaSendAddressHandle(t *testing.T) {
	mustRun(t, `
local l, addr = sock.bind_anon{type = "seqpacket"}
local a, b = sock.pair()
sock.sendfds(a, {addr}, "here")
local fds, data = sock.recvfds(b)
assert(data == "here" and #fds == 1)
local c = sock.connect(fds[1])       -- type found by trying
assert(fd.info(c).type == "seqpacket")
sock.accept(l):close()
`)
}

func TestLuaAnonBadInput(t *testing.T) {
	mustFail(t, `sock.bind_anon{type = "raw"}`, "sock.bind_anon", "bad argument #1 (opts)", "type")
	mustFail(t, `sock.bind_anon("x")`, "bad argument #1 (opts)")
	mustFail(t, `sock.bind_anon{backlog = "x"}`, "backlog")
	mustFail(t, `sock.bind_anon{dir = "/nonexistent"}`, "ENOENT", "scratch")
	mustFail(t, `local l, a = sock.bind_anon{}; a:close(); sock.connect(a)`, "closed")
	mustFail(t, `local l, a = sock.bind_anon{publishable=true}; sock.publish(a)`, "bad argument #2 (path)")
	mustFail(t, `sock.setopt(sock.socket("unix"), "nope", true)`, "unknown option")
	mustFail(t, `sock.setopt(sock.socket("unix"), "rcvbuf", true)`, "takes a number")
	mustFail(t, `sock.getopt(42, "passcred")`, "bad argument #1 (s)")
	mustFail(t, `local s = sock.socket("unix", "dgram"); sock.recvfrom(s, {timeout = 0.05})`, "recvfrom", "ETIMEDOUT")
	mustFail(t, `sock.sendto(sock.socket("unix", "dgram"), "/nonexistent/x", "d")`, "sendto /nonexistent/x", "ENOENT")
	mustFail(t, `sock.bind_at(sock.socket("unix"), fd.open("/tmp", "O_PATH"), "/abs")`, "EINVAL", "relative")
}

func TestLuaSocketOptions(t *testing.T) {
	out := mustRun(t, `
local a, b = sock.pair("dgram")
assert(sock.getopt(b, "passrights") == true)
sock.setopt(b, "passrights", false)
assert(sock.getopt(b, "passrights") == false)
local ok, err = pcall(sock.sendfds, a, {a}, "x")
assert(not ok and err.name == "EPERM", tostring(err))
sock.setopt(b, "passrights", true)
sock.setopt(b, "passpidfd", true)
assert(tostring(b):find("passpidfd"), tostring(b))
sock.sendfds(a, {a}, "y")
local fds, data, extra = sock.recvfds(b)
assert(#fds == 1 and data == "y" and extra and extra.pidfd, "pidfd missing")
sock.setopt(b, "passcred", true)
sock.sendfds(a, {a, a}, "z")
fds, data, extra = sock.recvfds(b)
assert(#fds == 2 and extra.pid == proc.self().pid and extra.uid == proc.self().uid)
sock.setopt(a, "sndbuf", 65536)
print(sock.getopt(a, "sndbuf") >= 65536)
`)
	if strings.TrimSpace(out) != "true" {
		t.Errorf("output %q", out)
	}
}

func TestLuaAbstractNames(t *testing.T) {
	mustRun(t, `
local l = sock.listen_on("@")
local name = fd.info(l).addr
assert(name:match("^@%x%x%x%x%x$"), name)
local c = sock.connect(name)
sock.accept(l):close()
local l2 = sock.listen_on("@fdwire-test-" .. proc.self().pid)
sock.connect("@fdwire-test-" .. proc.self().pid):close()
`)
}

func TestLuaRecvfromInTask(t *testing.T) {
	mustRun(t, `
local l, addr = sock.bind_anon{type = "dgram"}
local got
local t = task.spawn(function()
  local ok, d, from = pcall(sock.recvfrom, l, {timeout = 5})
  assert(ok, tostring(d))
  got = d
end)
task.sleep(0.01)
local s = sock.socket("unix", "dgram")
sock.bind(s, "@")
sock.sendto(s, addr, "late")
task.wait(t)
assert(got == "late")
`)
}

// TestLuaConnectBacklogFull: a unix connect that finds the backlog full is
// an error, not an unconnected socket.
func TestLuaConnectBacklogFull(t *testing.T) {
	mustRun(t, `
local l, addr = sock.bind_anon{backlog = 1}
local held, err = {}, nil
for i = 1, 10 do
  local ok, c = pcall(sock.connect, addr, {timeout = 5})
  if not ok then err = c break end
  held[#held + 1] = c
end
assert(err and err.name == "EAGAIN" and tostring(err):find("backlog is full"), tostring(err))
assert(#held >= 1)
`)
}
