package tests

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/internal/testtool"
)

// TestTopoForeignSocketPaths: a sockets.X.path that holds someone else's
// regular file or live socket makes the run refuse to start (exit 3,
// the path named) and both survive; a stale socket is replaced, and the
// run's own socket file is gone afterwards.
func TestTopoForeignSocketPaths(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	spec := func(path string, handed bool) string {
		fds := ""
		if handed {
			fds = `fds = { [3] = "api" },`
		}
		return writeFile(t, t.TempDir(), "t.lua", `return { sockets = { api = { path = "`+path+`" } },
			procs = { a = { sh = "exit 0", `+fds+` expect = { exit = 0 } } } }`)
	}
	for _, handed := range []bool{true, false} {
		r := fdwire(t, "", "up", spec(file, handed))
		if r.Code != 3 || !strings.Contains(r.Stderr, "sockets.api.path: "+file+" exists and is a file, not a socket") {
			t.Errorf("regular file (handed=%v): %+v", handed, r)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
			t.Fatalf("the regular file was touched: %q %v", b, err)
		}
		r = fdwire(t, "", "up", spec(live, handed))
		if r.Code != 3 || !strings.Contains(r.Stderr, "EADDRINUSE") || !strings.Contains(r.Stderr, "another process is listening on "+live) {
			t.Errorf("live socket (handed=%v): %+v", handed, r)
		}
		c, err := net.Dial("unix", live)
		if err != nil {
			t.Fatalf("the live socket no longer answers: %v", err)
		}
		c.Close()
	}
	r := fdwire(t, "", "up", spec(stale, true))
	if r.Code != 0 {
		t.Fatalf("stale socket: %+v", r)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("the run's own socket file is still there: %v", err)
	}
}

// TestTopoLoadErrors: a missing file is ENOENT (fdwire up exits 2), a
// syntax error carries its line, also at the end of the file.
func TestTopoLoadErrors(t *testing.T) {
	dir := t.TempDir()
	r := fdwire(t, "", "up", filepath.Join(dir, "nofile.lua"))
	if r.Code != 2 || !strings.Contains(r.Stderr, "nofile.lua: no such file") {
		t.Errorf("up nofile.lua: %+v", r)
	}
	r = fdwire(t, "", "-e", `local ok, e = pcall(topo.load, "/nonexistent/x.lua"); print(e.name)`)
	if strings.TrimSpace(r.Stdout) != "ENOENT" {
		t.Errorf("topo.load of a missing file: %+v", r)
	}
	mid := writeFile(t, dir, "mid.lua", "return {\n procs = {\n a = { sh = \"x\" \n b = 1 }\n}\n")
	r = fdwire(t, "", "up", mid)
	if r.Code != 3 || !strings.Contains(r.Stderr, mid+":4:2: syntax error near 'b'") {
		t.Errorf("syntax error: %+v", r)
	}
	eof := writeFile(t, dir, "eof.lua", "return {\n procs = {\n a = { sh = \"x\" }\n")
	r = fdwire(t, "", "up", eof)
	if r.Code != 3 || !strings.Contains(r.Stderr, eof+":3: syntax error at the end of the file") {
		t.Errorf("syntax error at EOF: %+v", r)
	}
}

// TestTopoTestExpectations: a failed expectation fails the test whether
// or not the test looks at wait()'s result or waits at all; a test that
// says it expects the failure passes only if it comes; a background task
// that raises fails its test; relative topo.load reads next to the test
// file; --junit parses as XML (python3's xml.etree) with one testcase per
// test, and --json gives one object per test.
func TestTopoTestExpectations(t *testing.T) {
	leakcheck.Check(t)
	py := testtool.Python(t)
	dir := t.TempDir()
	writeFile(t, dir, "fails.topo.lua", `return { name = "loaded", procs = { no = { argv = { "false" }, expect = { exit = 0 } } } }`)
	file := writeFile(t, dir, "e_test.lua", `
test("ignores wait", function(t)
	local top = t:up({ procs = { no = { argv = { "false" }, expect = { exit = 0 } } } })
	top:wait()
end)
test("never waits", function(t)
	t:up({ procs = { no = { sh = "sleep 0.05; exit 1", expect = { exit = 0 } } } })
end)
test("topo.up directly", function(t)
	topo.up({ procs = { no = { argv = { "false" }, expect = { exit = 0 } } } }):wait()
end)
test("expects the failure", function(t)
	t:up(topo.load("fails.topo.lua"), { expect_failure = "expected exit 0, got exit 1" }):wait()
end)
test("expects a failure that does not come", function(t)
	t:up({ procs = { yes = { argv = { "true" }, expect = { exit = 0 } } } }, { expect_failure = true }):wait()
end)
test("background task raises", function(t)
	task.spawn(function() task.sleep(0.01); error("boom in the background") end)
	task.sleep(30)
end)
test("passes <&>", function(t)
	t:log("odd bytes \1\255")
	t:ok(t:up({ procs = { yes = { argv = { "true" }, expect = { exit = 0 } } } }):wait())
end)
`)
	junit := filepath.Join(dir, "report.xml")
	jsonf := filepath.Join(dir, "report.json")
	r := fdwire(t, "", "test", "--junit", junit, "--json", jsonf, file)
	if r.Code != 1 || !strings.HasSuffix(r.Stdout, "2 passed, 5 failed\n") {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{
		"FAIL " + file + ": ignores wait", "FAIL no: expected exit 0, got exit 1",
		"FAIL " + file + ": never waits", "FAIL " + file + ": topo.up directly",
		"ok   " + file + ": expects the failure",
		"FAIL " + file + ": expects a failure that does not come", "expected it to fail (expect_failure), but every expectation held",
		"FAIL " + file + ": background task raises", "a background task failed: ", "boom in the background",
		"ok   " + file + ": passes <&>",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	check := exec.Command(py, "-c", `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
cases = list(root.iter("testcase"))
for c in cases:
    f = c.find("failure")
    print(("FAIL" if f is not None else "ok") + "|" + c.get("name") + "|" + (f.text.splitlines()[0] if f is not None else ""))
`, junit)
	out, err := check.CombinedOutput()
	if err != nil {
		t.Fatalf("the JUnit XML does not parse: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 7 || lines[0] != "FAIL|ignores wait|topology topology failed:" || lines[3] != "ok|expects the failure|" || lines[6] != "ok|passes <&>|" {
		t.Errorf("JUnit testcases:\n%s", out)
	}
	b, err := os.ReadFile(jsonf)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 7 || recs[0]["name"] != "ignores wait" || recs[0]["ok"] != false || recs[6]["ok"] != true {
		t.Fatalf("JSON records: %s", b)
	}
	tops := recs[0]["topologies"].([]any)
	if len(tops) != 1 || tops[0].(map[string]any)["code"] != float64(1) {
		t.Errorf("JSON topologies of the first test: %v", tops)
	}
}

// TestTopoCredentials: uid=, gid= and groups= per process run it as that
// identity (also under fdwire test, whose per-file $TMPDIR the process
// must enter), and values the kernel types cannot hold, unknown users and
// malformed lists are spec errors naming their place.
func TestTopoCredentials(t *testing.T) {
	leakcheck.Check(t)
	file := writeFile(t, t.TempDir(), "u_test.lua", `
test("as nobody", function(t)
	local top = t:up({ procs = {
		a = { sh = "id -u; id -g; id -G", uid = 65534, gid = 65534, groups = { 5, 65534 }, expect = { exit = 0 } },
		b = { sh = "id -u", uid = "nobody", expect = { exit = 0, stdout = "^65534\n$" } },
	} })
	local ok, r = top:wait()
	t:ok(ok, tostring(r))
	t:eq(r.procs.a.stdout, "65534\n65534\n65534 5\n")
end)
`)
	r := fdwire(t, "", "test", file)
	if r.Code != 0 {
		t.Fatalf("%+v", r)
	}
	r = fdwire(t, "", "-e", `
		for _, c in ipairs({
			{ "uid = -1", "procs.a.uid: -1 is out of range: a uid or gid goes from 0 to 4294967294" },
			{ "uid = 4294967295", "procs.a.uid: 4294967295 is out of range: a uid or gid goes from 0 to 4294967294 (4294967295 is (uid_t)-1" },
			{ "gid = 65534.5", "procs.a.gid: 65534.5 is not an integer, and fdwire does not round" },
			{ "uid = 'no-such-user-x'", 'procs.a.uid: no user "no-such-user-x"' },
			{ "gid = {}", "procs.a.gid: expected a gid (a number or a name), got table" },
			{ "groups = 5", "procs.a.groups: expected a list of gids" },
			{ "groups = { 1, 'wheel' }", "procs.a.groups[2]: expected a gid (a number), got string" },
			{ "groups = { [1] = 1, [3] = 3 }", "procs.a.groups: expected a list" },
			{ "uidd = 1", 'procs.a.uidd: unknown field (did you mean "uid"?)' },
		}) do
			local ok, e = pcall(topo.define, loadstring("return { procs = { a = { sh = 'x', " .. c[1] .. " } } }")())
			assert(not ok and tostring(e):find(c[2], 1, true), c[1] .. " -> " .. tostring(e))
		end
		print("ok")
	`)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Fatalf("%+v", r)
	}
}

// TestTopoSummaryTruth: a process that had to exit and was still running
// at teardown is reported once (not also as "got signal SIGTERM"); a
// notify process's last STATUS= is in its failure line and the summary;
// FDSTORE=1 descriptors nobody took are closed at teardown and said so;
// fdwire up --json writes the result object.
func TestTopoSummaryTruth(t *testing.T) {
	leakcheck.Check(t)
	py, _ := realNotifiers(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "s.lua", `return { timeout = 20, procs = {
		late = { argv = { "sleep", "60" }, expect = { exit = 0 }, depends_on = { svc = "ready" } },
		svc = { argv = { "`+py+`", "-c", "import os, time, systemd.daemon as d\nr, w = os.pipe()\nd.notify('FDSTORE=1\\nFDNAME=cache', fds=[r])\nd.notify('READY=1\\nSTATUS=warming up')\ntime.sleep(60)" }, ready = { notify = true } },
		dies = { sh = "systemd-notify --status='loading cache'; exit 4", ready = { notify = true }, depends_on = { svc = "ready" } },
	} }`)
	r := fdwire(t, "", "up", f)
	if r.Code != 1 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{
		"FAIL late: expected exit 0, but it was still running at teardown",
		"FAIL dies: exit 4 before it was ready (ready: notify READY=1); last STATUS=loading cache",
		"svc STATUS=warming up (2 notify message(s))",
		"svc: 1 FDSTORE descriptor(s) closed at teardown (cache)",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "late: expected exit 0, got signal") || strings.Contains(r.Stdout, "dies: exited unexpectedly") {
		t.Errorf("the teardown's own signal reported as a second failure:\n%s", r.Stdout)
	}
	ok := writeFile(t, dir, "ok.lua", `return { procs = { a = { sh = "echo hi", expect = { exit = 0, stdout = "hi" } } } }`)
	r = fdwire(t, "", "up", "--json", ok)
	var res struct {
		Ok    bool
		Code  int
		Procs map[string]struct {
			Stdout string
			Exit   int
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 || !res.Ok || res.Procs["a"].Stdout != "hi\n" {
		t.Fatalf("up --json: %v %+v", err, r)
	}
	if !strings.Contains(r.Stderr, "a | hi") || !strings.Contains(r.Stderr, "topology topology: ok") {
		t.Errorf("up --json: output and summary belong on stderr: %q", r.Stderr)
	}
}

// TestTopoBadInput: the calls this issue added refuse what they cannot
// do, with the place and, for a misspelt option, a suggestion; nothing
// leaks.
func TestTopoBadInput(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "-e", `
		local top = topo.up({ procs = { s = { argv = { "sleep", "60" } } } })
		for _, c in ipairs({
			{ function() top:verify({ strikt = true }) end, 'opts.strikt: unknown option (did you mean "strict"?)' },
			{ function() top:verify("strict") end, "bad argument #1 (opts): expected a table" },
			{ function() top:fdstore("nosuch") end, 'no process named "nosuch"' },
			{ function() topo.up({ procs = { a = { sh = "true" } } }, { expect_falure = true }) end, 'opts.expect_falure: unknown option (did you mean "expect_failure"?)' },
			{ function() topo.up({ procs = { a = { sh = "true" } } }, 5) end, "bad argument #2 (opts): expected a table" },
			{ function() topo.load(5) end, "bad argument #1 (path): expected a file name, got number" },
		}) do
			local ok, e = pcall(c[1])
			assert(not ok and tostring(e):find(c[2], 1, true), c[2] .. " -> " .. tostring(e))
		end
		-- not started with notify: no notices, nothing stored
		local fds, names = top:fdstore("s")
		assert(#fds == 0 and #names == 0)
		assert(top:proc("s"):notices() == nil)
		assert(#top:proc("s"):fdstore() == 0)
		assert(top:down())
		print("ok")
	`)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Fatalf("%+v", r)
	}
}
