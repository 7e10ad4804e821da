package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTopoUpExitCodes: fdwire up exits 0, 1 or 3 as the run went, and
// prints the per-process summary.
func TestTopoUpExitCodes(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.lua", `return { procs = { a = { sh = "echo hi", expect = { exit = 0, stdout = "hi" } } } }`)
	fail := writeFile(t, dir, "fail.lua", `return topo.run_main({ procs = { a = { sh = "exit 2", expect = { exit = 0 } } } })`)
	bad := writeFile(t, dir, "bad.lua", `return { procs = { a = { sh = "x", fds = { [3] = "ap" } } } }`)
	r := fdwire(t, "", "up", ok)
	if r.Code != 0 || !strings.Contains(r.Stdout, "a | hi") || !strings.Contains(r.Stdout, "topology topology: ok (completed)") {
		t.Errorf("up ok.lua: %+v", r)
	}
	r = fdwire(t, "", "up", fail)
	if r.Code != 1 || !strings.Contains(r.Stdout, "FAIL a: expected exit 0, got exit 2") {
		t.Errorf("up fail.lua: %+v", r)
	}
	r = fdwire(t, "", "up", bad)
	if r.Code != 3 || !strings.Contains(r.Stderr, `procs.a.fds[3]: no socket named "ap"`) {
		t.Errorf("up bad.lua: %+v", r)
	}
	r = fdwire(t, "", fail) // run directly through topo.run_main
	if r.Code != 1 || !strings.Contains(r.Stdout, "expected exit 0, got exit 2") {
		t.Errorf("fdwire fail.lua: %+v", r)
	}
	r = fdwire(t, "", "up")
	if r.Code != 2 {
		t.Errorf("up without a file: %+v", r)
	}
}

// TestTopoUpSIGINT: ^C during fdwire up tears the topology down in order,
// prints the summary, exits 130, and leaves no process, file or cgroup.
func TestTopoUpSIGINT(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	topoFile := writeFile(t, dir, "svc.lua", fmt.Sprintf(`return {
		sockets = { api = { anon = true } },
		procs = {
			db = { sh = "echo $$ >> %[1]s; sleep 60 & echo $! >> %[1]s; echo db-up; wait", fds = { [3] = "api" }, ready = { stdout = "db%%-up" } },
			web = { sh = "echo $$ >> %[1]s; echo web-up; exec sleep 60", fds = { [4] = "api.addr" }, depends_on = { "db" }, ready = { stdout = "web%%-up" } },
		},
	}`, pids))
	tmp := t.TempDir()
	cg := newOwnCgroup(t)
	cmd := exec.Command(fdwireBin, "up", topoFile)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cg.in(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), "web | web-up") {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	text := strings.Join(lines, "\n")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v (want 130)\n%s\n%s", err, text, errb.String())
	}
	if !strings.Contains(text, "interrupted") || !regexpLine(text, `web\s+\d+\s+stopped`) || !regexpLine(text, `db\s+\d+\s+stopped`) {
		t.Errorf("summary:\n%s", text)
	}
	b, _ := os.ReadFile(pids)
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		if err := syscall.Kill(pid, 0); err == nil {
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(st), ") Z ") {
				t.Errorf("pid %d survived the teardown", pid)
			}
		}
	}
	if len(strings.Fields(string(b))) != 3 {
		t.Errorf("pids: %q", b)
	}
	assertEmpty(t, tmp)
	if left := cg.left(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

func regexpLine(text, pat string) bool {
	for _, l := range strings.Split(text, "\n") {
		if regexp.MustCompile(pat).MatchString(l) {
			return true
		}
	}
	return false
}

// TestTopoParallel50: fifty topologies at once, each passing its own
// token through a pipe and an anonymous socket, none seeing another's,
// with nothing left behind.
func TestTopoParallel50(t *testing.T) {
	leakcheck.Check(t)
	tmp := t.TempDir()
	script := writeFile(t, t.TempDir(), "fifty.lua", `
		local tasks = {}
		for i = 1, 50 do
			tasks[i] = task.spawn(function()
				local top = topo.up({
					name = "t" .. i,
					timeout = 50,
					sockets = { api = { anon = true } },
					pipes = { p = {} },
					procs = {
						src = { sh = "echo token-" .. i, fds = { [1] = "p.w" }, expect = { exit = 0 } },
						dst = { argv = { "cat" }, fds = { [0] = "p.r", [4] = "api.addr" }, expect = { exit = 0, stdout = "^token%-" .. i .. "\n$" } },
						svc = { argv = { "sleep", "60" }, fds = { [3] = "api" } },
					},
				})
				assert(top:verify())
				local ok, r = top:wait()
				assert(ok, tostring(r))
				return i
			end)
		end
		task.wait(unpack(tasks))
		print("all 50 ok")
	`)
	cg := newOwnCgroup(t)
	r := fdwireCmd(t, "", func(c *exec.Cmd) { c.Env = append(c.Env, "TMPDIR="+tmp); cg.in(c) }, script)
	if r.Code != 0 || !strings.Contains(r.Stdout, "all 50 ok") {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	assertEmpty(t, tmp)
	if left := cg.left(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

// TestTopoTestCommand: fdwire test runs files in parallel, reports each
// test, ends with "N passed, N failed" and fails when a test failed.
func TestTopoTestCommand(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "a_test.lua", `
test("pipe", function(t)
	local top = t:up({ pipes = { p = {} }, procs = {
		a = { sh = "echo x", fds = { [1] = "p.w" }, expect = { exit = 0 } },
		b = { argv = { "cat" }, fds = { [0] = "p.r" }, expect = { exit = 0, stdout = "^x\n$" } } } })
	t:ok(top:wait())
end)
test("left running is torn down", function(t)
	t:up({ procs = { s = { argv = { "sleep", "60" } } } })
end)
test("assertion fails", function(t)
	t:eq(1 + 1, 3, "sum")
end)
test("expectation fails", function(t)
	t:ok(t:up({ procs = { a = { sh = "exit 7", expect = { exit = 0 } } } }):wait())
end)
`)
	b := writeFile(t, dir, "b_test.lua", `
test("own tmpdir", function(t)
	t:match(os.getenv("TMPDIR"), "fdwire%-testfile")
	t:fails(function() topo.define({}) end, "procs: expected")
end)
`)
	c := writeFile(t, dir, "c_test.lua", `this is not lua`)
	r := fdwire(t, "", "test", a, b, c)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 1 || lines[len(lines)-1] != "3 passed, 3 failed" {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{
		"ok   " + a + ": pipe", "ok   " + a + ": left running is torn down",
		"FAIL " + a + ": assertion fails", "sum: expected 3, got 2",
		"FAIL " + a + ": expectation fails", "a: expected exit 0, got exit 7",
		"ok   " + b + ": own tmpdir", "FAIL " + c,
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = fdwire(t, "", "test", b)
	if r.Code != 0 || !strings.HasSuffix(r.Stdout, "1 passed, 0 failed\n") {
		t.Errorf("%+v", r)
	}
}

// TestTopoGraphCommand: DOT on stdout; SVG through dot when installed.
func TestTopoGraphCommand(t *testing.T) {
	r := fdwire(t, "", "graph", "scripts/echo-anon.topo.lua")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"client1" -> "server" [label="api (anon)", taillabel="4", headlabel="3"`) {
		t.Fatalf("%+v", r)
	}
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("dot is not installed (apt-get install graphviz)")
	}
	out := filepath.Join(t.TempDir(), "g.svg")
	r = fdwire(t, "", "graph", "-o", out, "scripts/echo-anon.topo.lua")
	b, _ := os.ReadFile(out)
	if r.Code != 0 || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "client1") {
		t.Fatalf("%+v\n%.200s", r, b)
	}
}
