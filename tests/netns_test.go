package tests

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// TestParallelNetnsTopologies: 50 topologies with netns = true run at once,
// each binding the same abstract name (also held outside all of them); in
// each, a process connects to the name and must reach its own topology's
// socket, which it also holds at fd 3.
func TestParallelNetnsTopologies(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("netns = true needs CAP_SYS_ADMIN for fdwire's own network namespaces (run as root)")
	}
	leakcheck.Check(t)
	name := fmt.Sprintf("fdwire-par-%d", os.Getpid())
	r := fdwire(t, "", "-e", `
		local name = "`+name+`"
		local check = [[
			local l = fd.from(3)
			local c = sock.connect("@" .. arg[1])
			local a = sock.accept(l, {timeout = 10})
			c:write(arg[2]); c:close()
			assert(a:read(10) == arg[2])
		]]
		local outside = sock.listen_on("@" .. name)
		local tops = {}
		for i = 1, 50 do
			tops[i] = topo.up({
				name = "par" .. i, netns = true, timeout = 30,
				sockets = {api = {abstract = name}},
				procs = {p = {argv = {topo.exe, "-e", check, name, tostring(i)}, fds = {[3] = "api"}, expect = {exit = 0}}},
			})
		end
		local ok = 0
		for i, t in ipairs(tops) do
			local _, res = t:wait()
			if res.code == 0 then ok = ok + 1 else print(topo.summary(res)) end
		end
		outside:close()
		print(ok .. " ok")
	`)
	if r.Code != 0 || !strings.Contains(r.Stdout, "50 ok") {
		t.Fatalf("%+v", r)
	}
}

// TestTopoSealedProcess: a process with isolate = {...} and root = {...}
// is started from its program handle in its own namespaces, reaches an
// anonymous socket through the connector that replaced its address
// handle, sees no /proc, and verify accepts it.
func TestTopoSealedProcess(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "-e", `
		local libs = {}
		for _, d in ipairs{"/lib", "/lib64", "/usr/lib", "/usr/lib64"} do
			if fs.exists(d) then libs[#libs + 1] = {bind = d, at = d, ro = true} end
		end
		local top = topo.up({
			name = "sealed", timeout = 30,
			sockets = {api = {anon = true}},
			procs = {
				server = {argv = {topo.exe, "-e", "local c = sock.accept(fd.from(3)); c:write('hi ' .. c:read(10)); c:close()"}, fds = {[3] = "api"}},
				client = {
					argv = {topo.exe, "-e", "local c = sock.connect(fd.from(4)); c:write('sealed'); print(c:read(20)); print((select(2, pcall(fd.open, '/proc/self/status'))).name)"},
					fds = {[4] = "api.addr"}, depends_on = {server = "started"},
					isolate = {user = true, mount = true, net = true, pid = true, no_new_privs = true}, root = libs,
					expect = {exit = 0, stdout = "^hi sealed\nENOENT\n$"},
				},
			},
		})
		local ok, msg = top:verify()
		local _, r = top:wait()
		print(ok, r.code)
		if r.code ~= 0 then print(topo.summary(r)) end
	`)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "true\t0") {
		t.Fatalf("%+v", r)
	}
	for _, c := range []struct{ spec, want string }{
		{`{procs = {a = {argv = {"true"}, isolate = {nett = true}}}}`, "procs.a.isolate.nett: unknown field"},
		{`{procs = {a = {argv = {"true"}, isolate = {user = true}, root = {}}}}`, "add isolate = {mount = true"},
		{`{netns = 1, procs = {a = {argv = {"true"}}}}`, "netns: expected true or false"},
	} {
		r := fdwire(t, "", "-e", "topo.define("+c.spec+")")
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%s: %+v", c.spec, r)
		}
	}
}
