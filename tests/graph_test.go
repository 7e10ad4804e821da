package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The topology graphed from outside: five processes joined by two pipes,
// a socket pair and a listener with one client waiting in its queue.
const graphTopo = `
local top = topo.up({
	name = "graph5",
	timeout = 120,
	pipes = { p1 = {}, p2 = {} },
	sockets = { link = { pair = true }, api = { abstract = true } },
	procs = {
		a = { argv = { "sleep", "120" }, fds = { [3] = "p1.w", [4] = "link.a" } },
		b = { argv = { "sleep", "120" }, fds = { [3] = "p1.r", [5] = "p2.w" } },
		c = { argv = { "sleep", "120" }, fds = { [0] = "p2.r", [4] = "link.b" } },
		d = { argv = { "sleep", "120" }, fds = { [3] = "api" } },
		e = { argv = { topo.exe, "-e", "c = sock.connect(os.getenv('FDWIRE_SOCK_API')) print('connected') io.stdout:flush() task.sleep(120)" },
			ready = { stdout = "connected" } },
	},
})
assert(top:verify())
for _, n in ipairs({ "a", "b", "c", "d", "e" }) do print(n, top:proc(n):pid()) end
print("up")
fd.stdin:read() -- until the test closes our stdin
top:down()
`

type graphJSON struct {
	Procs []struct {
		Pid     int    `json:"pid"`
		Comm    string `json:"comm"`
		Outside bool   `json:"outside"`
	} `json:"procs"`
	Objects []struct{ ID, Kind, Label string } `json:"objects"`
	Edges   []struct {
		Kind, From, To, Label string
		FromFds               []int `json:"from_fds"`
		ToFds                 []int `json:"to_fds"`
	} `json:"edges"`
}

// TestGraphRunningProcessesByPid: a topology and a shell pipeline, graphed
// from outside with fdwire graph --pid, show every connection the spec
// made and topology:verify() checked: each pipe from writer to reader, the
// socket pair, the listener, and a client still in the listener's queue.
func TestGraphRunningProcessesByPid(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "graph5.lua")
	os.WriteFile(script, []byte(graphTopo), 0o644)
	cmd := exec.Command(fdwireBin, script)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	pids := map[string]int{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "up" {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			pids[f[0]], _ = strconv.Atoi(f[1])
		}
	}
	if len(pids) != 5 {
		t.Fatalf("the topology did not come up: %v", pids)
	}
	sh := exec.Command("sh", "-c", "sleep 120 | cat")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the shell has started both sides of its pipeline.
	var kids []string
	for deadline := time.Now().Add(30 * time.Second); len(kids) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", sh.Process.Pid, sh.Process.Pid))
		kids = strings.Fields(string(b))
	}
	// The pipeline ends first, so the shell reaps it and exits by itself
	// (killing the shell would leave its children to this subreaper).
	defer func() {
		for _, k := range kids {
			if n, err := strconv.Atoi(k); err == nil {
				syscall.Kill(n, syscall.SIGKILL)
			}
		}
		sh.Wait()
	}()
	args := []string{"graph", "--json"}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		args = append(args, "--pid", strconv.Itoa(pids[n]))
	}
	args = append(args, "--pid", strconv.Itoa(sh.Process.Pid))
	r := fdwire(t, "", args...)
	if r.Code != 0 {
		t.Fatalf("fdwire graph: %+v", r)
	}
	var g graphJSON
	if err := json.Unmarshal([]byte(r.Stdout), &g); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.Stdout)
	}
	node := func(pid int) string { return "pid:" + strconv.Itoa(pid) }
	has := func(kind, from, to string, fromFd, toFd int) bool {
		for _, e := range g.Edges {
			if e.Kind != kind || e.From != from || e.To != to {
				continue
			}
			if (fromFd < 0 || contains(e.FromFds, fromFd)) && (toFd < 0 || contains(e.ToFds, toFd)) {
				return true
			}
		}
		return false
	}
	want := []struct {
		kind, from, to string
		fromFd, toFd   int
		what           string
	}{
		{"pipe", node(pids["a"]), node(pids["b"]), 3, 3, "pipe p1: a fd 3 -> b fd 3"},
		{"pipe", node(pids["b"]), node(pids["c"]), 5, 0, "pipe p2: b fd 5 -> c fd 0"},
	}
	for _, w := range want {
		if !has(w.kind, w.from, w.to, w.fromFd, w.toFd) {
			t.Errorf("no edge for %s:\n%s", w.what, r.Stdout)
		}
	}
	// The pair is drawn once, from either end.
	if !has("unix", node(pids["a"]), node(pids["c"]), 4, 4) && !has("unix", node(pids["c"]), node(pids["a"]), 4, 4) {
		t.Errorf("no edge for the socket pair link: a fd 4 <-> c fd 4:\n%s", r.Stdout)
	}
	var listener string
	for _, e := range g.Edges {
		if e.Kind == "listen" && e.From == node(pids["d"]) && contains(e.FromFds, 3) {
			listener = e.To
		}
	}
	if listener == "" {
		t.Fatalf("no listen edge from d fd 3:\n%s", r.Stdout)
	}
	if !has("pending", node(pids["e"]), listener, -1, -1) {
		t.Errorf("no pending edge from e to the listener %s:\n%s", listener, r.Stdout)
	}
	if len(kids) == 2 {
		sleep, _ := strconv.Atoi(kids[0])
		cat, _ := strconv.Atoi(kids[1])
		if !has("pipe", node(sleep), node(cat), 1, 0) {
			t.Errorf("no edge for the shell pipeline sleep fd 1 -> cat fd 0 (pids %v):\n%s", kids, r.Stdout)
		}
	} else {
		t.Errorf("the shell's pipeline did not start: children %v", kids)
	}
	for _, p := range g.Procs {
		if p.Pid == pids["a"] && p.Outside {
			t.Errorf("a (pid %d) was asked for but is drawn as outside", p.Pid)
		}
	}
}

// TestGraphBadArguments: misuse is a usage error; a pid that is not
// running is an error naming it.
func TestGraphBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"graph", "--pid", "1", "--all"}, 2, "exclude each other"},
		{[]string{"graph", "--pid", "x"}, 2, "--pid"},
		{[]string{"graph", "--pid", "2147483646"}, 1, "no process 2147483646"},
		{[]string{"graph", "--pid", "1", "scripts/pipeline.topo.lua"}, 2, "exclude each other"},
		{[]string{"graph", "--cgroup", "/nonexistent-fdwire-cgroup"}, 1, "ENOENT"},
		{[]string{"graph", "--pid", "1", "--bogus"}, 2, "unknown option --bogus"},
	} {
		r := fdwire(t, "", c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("fdwire %v: status %d (want %d), stderr %q (want %q)", c.args, r.Code, c.code, r.Stderr, c.msg)
		}
	}
}

func contains(l []int, n int) bool {
	for _, x := range l {
		if x == n {
			return true
		}
	}
	return false
}

// TestEchoAnonPictureIsCurrent: docs/img/echo-anon.svg shows what fdwire
// graph makes of scripts/echo-anon.topo.lua now: the same node and edge
// texts (the SVG's bytes depend on the Graphviz version, its texts do
// not). Regenerate with fdwire graph -o docs/img/echo-anon.svg
// scripts/echo-anon.topo.lua (with the binary named fdwire).
func TestEchoAnonPictureIsCurrent(t *testing.T) {
	r := fdwire(t, "", "graph", "scripts/echo-anon.topo.lua")
	if r.Code != 0 {
		t.Fatalf("fdwire graph: %+v", r)
	}
	var want []string
	for _, m := range regexp.MustCompile(`(?:^|[ ,\[])(?:label|taillabel|headlabel)="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(r.Stdout, -1) {
		want = append(want, strings.Split(m[1], `\n`)...)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "img", "echo-anon.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`<text[^>]*>([^<]*)</text>`).FindAllStringSubmatch(string(b), -1) {
		got = append(got, html.UnescapeString(m[1]))
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("docs/img/echo-anon.svg is stale:\n have %q\n want %q", got, want)
	}
}
