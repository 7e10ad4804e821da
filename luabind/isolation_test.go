package luabind

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/testtool"
)

// TestFdOpenatResolve: fd.openat through openat2 refuses escapes with
// the kernel's errno and names the resolve flag; fd.opendir and
// fd.readdir work on the handle.
func TestFdOpenatResolve(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("inside"), 0o644)
	os.Symlink("f", filepath.Join(dir, "link"))
	out := mustRun(t, `
		local d = fd.opendir("`+dir+`")
		print(fd.openat(d, "f", "r", {resolve = {"beneath"}}):read(10))
		local ok, e = pcall(fd.openat, d, "../x", "r", {resolve = {"beneath"}})
		print(e.name, e.msg:find("RESOLVE_BENEATH", 1, true) ~= nil)
		ok, e = pcall(fd.openat, d, "link", "r", {resolve = "no_symlinks"})
		print(e.name, e.msg:find("RESOLVE_NO_SYMLINKS", 1, true) ~= nil)
		print(table.concat(fd.readdir(d), ","))
		local sub = fd.opendir(d, ".", {resolve = {"in_root"}})
		local w = fd.openat(sub, "new", "w", {mode = 384})
		w:write("x"); w:close()
		print(table.concat(fd.readdir(sub), ","))
	`)
	if out != "inside\nEXDEV\ttrue\nELOOP\ttrue\nf,link\nf,link,new\n" {
		t.Fatalf("output %q", out)
	}
	st, err := os.Stat(filepath.Join(dir, "new"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v %v", st, err)
	}
}

func TestFdOpenatBadArguments(t *testing.T) {
	for _, c := range []struct{ code, want string }{
		{`fd.openat(fd.opendir("/"), "etc", "r", {resolve = {"beneth"}})`, `unknown resolve flag "beneth"`},
		{`local d = fd.opendir("/"); d:close(); fd.openat(d, "etc")`, "closed"},
		{`fd.openat(fd.opendir("/"), "etc", "r", {resolv = {}})`, `unknown option "resolv"`},
		{`fd.openat(fd.opendir("/"), "etc", "r", {mode = 420})`, "only with O_CREAT"},
		{`fd.opendir("/etc/passwd")`, "ENOTDIR"},
	} {
		mustFail(t, c.code, c.want)
	}
}

// TestSockConnectorLua: sock.connector and sock.connect(connector) in
// Lua, from a task while the main task accepts; ECONNREFUSED once the
// listener is closed.
func TestSockConnectorLua(t *testing.T) {
	out := mustRun(t, `
		local l, a = sock.bind_anon{}
		local c = sock.connector(a)
		local n = 0
		task.spawn(function()
			for i = 1, 100 do
				local s = sock.connect(c, {timeout = 10})
				s:write("x"); s:close()
			end
		end)
		for i = 1, 100 do
			local s = sock.accept(l, {timeout = 10})
			n = n + #s:read(1)
			s:close()
		end
		l:close()
		local ok, e = pcall(sock.connect, c)
		print(n, e.name)
		a:close(); c:close()
	`)
	if out != "100\tECONNREFUSED\n" {
		t.Fatalf("output %q", out)
	}
	mustFail(t, `local r = fd.pipe(); sock.connector(r)`, "address handle")
	mustFail(t, `local l, a = sock.bind_anon{}; sock.connector(a, {timout = 1})`, `unknown option "timout"`)
}

// TestProcSpawnNamespaces: the spawn keys reach runtime/ns; the child is
// in a new net namespace with loopback up.
func TestProcSpawnNamespaces(t *testing.T) {
	self, _ := os.Readlink("/proc/self/ns/net")
	out := mustRun(t, `
		local r, w = fd.pipe()
		local p = proc.spawn{"sh", "-c", "readlink /proc/self/ns/net; id -u",
			namespaces = {"user", "net"}, uid_map = "root", gid_map = "root", stdout = w, no_new_privs = true}
		w:close()
		local out = ""
		while true do local s = r:read(100); if not s or s == "" then break end; out = out .. s end
		assert(p:wait() == 0)
		print(out)
	`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || lines[0] == self || lines[len(lines)-1] != "0" {
		t.Fatalf("output %q (ours %s)", out, self)
	}
}

func TestProcSpawnIsolationBadSpec(t *testing.T) {
	for _, c := range []struct{ code, want string }{
		{`proc.spawn{"true", namespaces = "net"}`, "list of names"},
		{`proc.spawn{"true", namespaces = {"nett"}}`, `unknown namespace "nett"`},
		{`proc.spawn{"true", namespaces = {"user", "mount"}, root = {{bnd = "/x"}}}`, `unknown key "bnd"`},
		{`proc.spawn{"true", namespaces = {"user"}, uid_map = {{0, 1}}}`, "{inside, outside, count}"},
		{`proc.spawn{"true", namespaces = {"user"}, uid_map = "me"}`, `expected "root"`},
		{`proc.spawn{"true", join = {net = 3}}`, "not an Fd handle"},
		{`proc.spawn{"true", join = {nett = fd.open("/proc/self/ns/net")}}`, "unknown namespace"},
		{`proc.spawn{"true", join = {net = fd.open("/proc/self/ns/mnt")}}`, "needs a net namespace"},
		{`proc.spawn{"true", namespaces = {"user"}, root = {{tmpfs = "/tmp"}}}`, "needs a new mount namespace"},
		{`proc.spawn{"true", namespaces = {"user", "mount"}, root = {{bind = "/", at = "/../up"}}}`, "outside the new root"},
		{`local d = fd.opendir("/"); d:close(); proc.spawn{"true", namespaces = {"user", "mount"}, root = {{bind = d, at = "/x"}}}`, "closed"},
		{`proc.spawn{"true", no_new_privs = 1}`, "true or false"},
	} {
		mustFail(t, c.code, c.want)
	}
}

// TestConnectorPythonClient runs scripts/connector-client.py against a
// connector: the documented protocol, from a foreign client.
func TestConnectorPythonClient(t *testing.T) {
	py := testtool.Python(t)
	script, _ := filepath.Abs("../scripts/connector-client.py")
	out := mustRun(t, `
		local l, a = sock.bind_anon{}
		local c = sock.connector(a)
		local p = proc.spawn{"`+py+`", "`+script+`", fds = {[3] = c}}
		local s = sock.accept(l, {timeout = 20})
		print(s:read(100))
		assert(p:wait() == 0)
	`)
	if out != "hello through a connector\n\n" {
		t.Fatalf("output %q", out)
	}
}

// TestProcExecNamespaces: proc.exec unshares net (and mount) in the
// trampoline before replacing the process; loopback is up; namespaces
// that apply only to children are refused.
func TestProcExecNamespaces(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("exec cannot create a user namespace (no fork), so a new net namespace needs CAP_SYS_ADMIN (run as root)")
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	out := mustRun(t, readallLua+`
		local code = [=[
			proc.exec{"sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev | grep -c lo:", namespaces = {"net", "mount", "uts"},
				fds = {[1] = fd.from(1)}, no_new_privs = true}
		]=]
		local p = proc.spawn{"/proc/self/exe", env_add = {FDWIRE_TEST_HELPER = "lua", HELPER_LUA = code}, stdout = "pipe"}
		local out = readall(p:stdout())
		assert(p:wait() == 0, out)
		print(out)
	`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] == self || !strings.HasPrefix(lines[0], "net:[") || lines[1] != "1" {
		t.Fatalf("output %q (ours %s)", out, self)
	}
	mustFail(t, `proc.exec{"true", namespaces = {"user"}}`, "exec cannot create a user namespace")
	mustFail(t, `proc.exec{"true", namespaces = {"pid"}}`, "exec cannot create a pid namespace")
}
