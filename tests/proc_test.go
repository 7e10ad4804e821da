package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// TestProcSigintTakesChildrenDown sends SIGINT to fdwire only (not its
// process group) while it waits; its child and an orphaned grandchild
// must be gone when it exits with 130.
func TestProcSigintTakesChildrenDown(t *testing.T) {
	leakcheck.Check(t)
	script := filepath.Join(t.TempDir(), "s.lua")
	os.WriteFile(script, []byte(`
		local c = proc.spawn{"sleep", "60"}
		local p = proc.spawn{"sh", "-c", "sleep 60 & echo $!", stdout = "pipe"}
		local g = p:stdout():read(100)
		p:wait()
		io.stdout:write(c:pid(), " ", g)
		io.stdout:flush()
		c:wait()
	`), 0o600)
	cmd := exec.Command(fdwireBin, script)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("reading pids: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(line) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Errorf("pid %d should be running before SIGINT", pid)
		}
	}
	cmd.Process.Signal(unix.SIGINT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("fdwire after SIGINT: %v, want exit 130", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d survived fdwire's SIGINT", pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// TestProcScriptErrorLeavesNoProcess: a script that fails after spawning
// (a child, and a child that ignores SIGTERM) leaves nothing running.
func TestProcScriptErrorLeavesNoProcess(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "-e", `
		local a = proc.spawn{"sleep", "60"}
		local b = proc.spawn{"sh", "-c", "trap '' TERM; echo >&5; exec sleep 60", notify_fd = 5}
		b:ready()
		print(a:pid(), b:pid())
		error("failed on purpose")
	`)
	if r.Code != 1 || !strings.Contains(r.Stderr, "failed on purpose") {
		t.Fatalf("%+v", r)
	}
	for _, f := range strings.Fields(r.Stdout) {
		pid, _ := strconv.Atoi(f)
		if alive(pid) {
			t.Errorf("pid %d survived the failed script", pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// TestProcSubreaperReapsOrphans: an orphaned grandchild is adopted by
// fdwire, reaped when it exits, and one still running at the end is
// terminated.
func TestProcSubreaperReapsOrphans(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "-e", `
		assert(proc.self().subreaper)
		local p = proc.spawn{"sh", "-c", "sleep 0.2 & echo $!; sleep 60 & echo $!", stdout = "pipe"}
		local out = ""
		while not out:match("%d+%s+%d+%s") do out = out .. assert(p:stdout():read(100)) end
		p:wait()
		local short, long = out:match("(%d+)%s+(%d+)")
		local function ppid(pid)
			local f = io.open("/proc/" .. pid .. "/stat")
			if not f then return nil end
			local s = f:read("*a"); f:close()
			return tonumber(s:match("%) %a (%d+)"))
		end
		assert(ppid(short) == proc.self().pid, "the orphan was not adopted")
		task.sleep(0.6)
		assert(ppid(short) == nil, "the exited orphan was not reaped")
		print(long)
	`)
	if r.Code != 0 {
		t.Fatalf("%+v", r)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(r.Stdout))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(pid) {
		t.Errorf("running orphan %d survived the end of the script", pid)
		unix.Kill(pid, unix.SIGKILL)
	}
}
