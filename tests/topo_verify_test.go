package tests

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/internal/testtool"
)

// TestTopoVerifyNoFalseAlarms: verify() on the README's topology (fdwire
// children, each with its own event loop's eventfd, the same anonymous
// inode as fdwire's) and on Python children holding os.eventfd returns
// true, and assert(top:verify()) passes; strict mode does not flag the
// descriptors the Go runtime of an fdwire child opens for itself, but
// does flag a Python child's eventfd.
func TestTopoVerifyNoFalseAlarms(t *testing.T) {
	leakcheck.Check(t)
	py := testtool.Python(t)
	r := fdwire(t, "", "-e", "local py = "+strconv.Quote(py)+`
		local top = topo.up(topo.load("scripts/echo-anon.topo.lua"))
		assert(top:verify())
		-- strict: the server may still hold a client's accepted socket for a
		-- moment; once the clients are done, only the map and the Go
		-- runtime's own descriptors remain.
		local ok, msg
		for _ = 1, 200 do
			ok, msg = top:verify({ strict = true })
			if ok then break end
			task.sleep(0.01)
		end
		assert(ok, msg)
		assert(top:wait())
		local ev = [[
import os, time
e = os.eventfd(0)
print("go", flush=True)
time.sleep(60)
]]
		local top2 = topo.up({ procs = {
			a = { argv = { py, "-c", ev }, ready = { stdout = "go" } },
			b = { argv = { py, "-c", ev }, ready = { stdout = "go" } },
		} })
		assert(top2:verify())
		local ok2, msg2, problems = top2:verify({ strict = true })
		assert(not ok2 and #problems == 2 and msg2:find("procs.a holds fd %d+ %(anon_inode:%[eventfd%]%) that the spec did not give it"), msg2)
		assert(top2:down())
		print("verified")
	`)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "verified" {
		t.Fatalf("%+v", r)
	}
}

// TestTopoVerifyCatches: a planted extra dup of a handed socket, two
// swapped fds, a closed fd and a pipe end re-opened through /proc (same
// inode, a new open file description: kcmp tells) are each reported, and
// assert(top:verify()) fails with the whole list as its message.
func TestTopoVerifyCatches(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "-e", `
		local top = topo.up({
			sockets = { api = { anon = true }, link = { pair = true } },
			pipes = { p = {} },
			procs = {
				a_reader = { sh = "echo go; exec sleep 60", fds = { [3] = "p.r" }, ready = { stdout = "go" } },
				dup = { sh = "exec 7<&3; echo go; exec sleep 60", fds = { [3] = "api" }, ready = { stdout = "go" } },
				swap = { sh = "exec 5<&3 3<&4 4<&5 5<&-; echo go; exec sleep 60", fds = { [3] = "p.r", [4] = "link.a" }, ready = { stdout = "go" } },
				closed = { sh = "exec 3<&-; echo go; exec sleep 60", fds = { [3] = "link.b" }, ready = { stdout = "go" } },
				reopen = { sh = "exec 6</proc/self/fd/3 3<&6 6<&-; echo go; exec sleep 60", fds = { [3] = "p.r" }, ready = { stdout = "go" } },
				writer = { sh = "echo go; exec sleep 60", fds = { [4] = "p.w", [5] = "api.addr" }, ready = { stdout = "go" } },
			},
		})
		local want = {
			"procs.dup holds fd 7 %(socket:%[%d+%], which is api.sock%) that the spec did not give it",
			"procs.swap.fds%[3%] %(p.r%): is socket:%[%d+%], not the p.r the runner made",
			"procs.swap.fds%[4%] %(link.a%): is pipe:%[%d+%], not the link.a the runner made",
			"procs.closed.fds%[3%] %(link.b%): not open in pid %d+",
			"procs.reopen.fds%[3%] %(p.r%): is another open file description of p.r than procs.a_reader.fds%[3%] %(p.r%) holds %(kcmp%)",
		}
		-- The shells' exec of sleep briefly holds the loader's libraries:
		-- ask until the processes have settled.
		local ok, msg, problems
		for _ = 1, 200 do
			ok, msg, problems = top:verify()
			local all = true
			for _, w in ipairs(want) do if not msg:find(w) then all = false end end
			if all and #problems == #want then break end
			task.sleep(0.01)
		end
		assert(not ok and #problems == #want, msg)
		for _, w in ipairs(want) do assert(msg:find(w), "missing " .. w .. " in:\n" .. msg) end
		local aok, aerr = pcall(assert, top:verify())
		assert(not aok and tostring(aerr):find("5 problem%(s%)") and tostring(aerr):find("procs.dup holds fd 7", 1, true), tostring(aerr))
		assert(top:down())
		print("caught")
	`)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "caught" {
		t.Fatalf("%+v", r)
	}
}

// TestTopoScriptsUpAndVerify: every scripts/*.topo.lua runs clean under
// fdwire up, and assert(top:verify()) passes on each while it runs.
func TestTopoScriptsUpAndVerify(t *testing.T) {
	leakcheck.Check(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, "scripts", "*.topo.lua"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no topology scripts: %v", err)
	}
	for _, f := range files {
		r := fdwire(t, "", "up", "-q", f)
		if r.Code != 0 {
			t.Errorf("fdwire up %s: %+v", f, r)
		}
		r = fdwire(t, "", "-e", `
			local top = topo.up(topo.load(`+strconv.Quote(f)+`))
			assert(top:verify())
			assert(top:wait())
			print("ok")
		`)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
			t.Errorf("verify %s: %+v", f, r)
		}
	}
}
