package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// TestTopoTestInterrupted: SIGINT or SIGTERM to `fdwire test` while a
// test's service ignores SIGTERM: the file's process tears its topology
// down in order (SIGTERM, the 2 s grace, SIGKILL, cgroup.kill) before the
// parent gives up on it, the report and the counts are printed, the exit
// status is 128+N, and no process, file or cgroup of the run is left.
func TestTopoTestInterrupted(t *testing.T) {
	leakcheck.Check(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		dir := t.TempDir()
		mark := filepath.Join(dir, "mark")
		file := writeFile(t, dir, "i_test.lua", `
test("waits on a stubborn service", function(t)
	local top = t:up({ procs = { stubborn = { sh = "trap '' TERM; echo $$; exec sleep 60", ready = { stdout = "%d" } } } })
	local f = assert(io.open(os.getenv("MARK"), "w"))
	f:write(top:status("stubborn").pid)
	f:close()
	task.sleep(60)
end)
`)
		tmp := t.TempDir()
		cg := newOwnCgroup(t)
		cmd := exec.Command(fdwireBin, "test", file)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "MARK="+mark)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cg.in(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var pid int
		for i := 0; i < 3000 && pid == 0; i++ {
			b, _ := os.ReadFile(mark)
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			if pid == 0 {
				time.Sleep(10 * time.Millisecond) // waiting for the test to start, not timing it
			}
		}
		if pid == 0 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the test never started:\n%s", out.String())
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		text := out.String()
		want := 128 + int(sig)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != want {
			t.Fatalf("%v: exit %v, want %d\n%s", sig, err, want, text)
		}
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
		for _, w := range []string{"FAIL " + file + ": waits on a stubborn service", "interrupted by signal SIGTERM",
			"interrupted by " + name, "did not exit within 2s of SIGTERM; sent SIGKILL", "0 passed, 1 failed"} {
			if !strings.Contains(text, w) {
				t.Errorf("%v: output lacks %q:\n%s", sig, w, text)
			}
		}
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
			t.Errorf("%v: the stubborn service (pid %d) survived", sig, pid)
		}
		assertEmpty(t, tmp)
		if left := cg.left(); len(left) > 0 {
			t.Errorf("%v: cgroups left: %v", sig, left)
		}
	}
}
