package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// fdwire hold under real s6 supervision: s6-supervise reads the
// service's notification-fd, so s6-svwait -U returning means s6 itself
// saw the newline that `hold --ready-fd 3` writes once it listens.

// s6Tools skips with the package to install when s6 is missing.
func s6Tools(t *testing.T) {
	t.Helper()
	for _, p := range []string{"s6-supervise", "s6-svok", "s6-svwait", "s6-svc", "s6-svstat"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is missing (Debian package s6; .ci/run installs it)", p)
		}
	}
}

// s6Service writes a service directory whose run script execs fdwire
// with args; notifyFD, when not empty, goes into notification-fd.
func s6Service(t *testing.T, env []string, notifyFD string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "svc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var run strings.Builder
	run.WriteString("#!/bin/sh\nexec 2>&1\n")
	for _, e := range env {
		fmt.Fprintf(&run, "export %q\n", e)
	}
	fmt.Fprintf(&run, "exec %q", fdwireBin)
	for _, a := range args {
		fmt.Fprintf(&run, " %q", a)
	}
	run.WriteString("\n")
	if err := os.WriteFile(filepath.Join(dir, "run"), []byte(run.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	if notifyFD != "" {
		if err := os.WriteFile(filepath.Join(dir, "notification-fd"), []byte(notifyFD+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// s6 runs one of s6's client programs to the end.
func s6(t *testing.T, prog string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(prog, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	reapS6Helpers(t)
	return string(out), code
}

// reapS6Helpers waits for the s6-ftrigrd helpers that s6-svwait and
// s6-svc fork and leave behind: orphaned, they become this test
// process's children (it is a subreaper) and would show up as leaks.
func reapS6Helpers(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []int
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, tk := range tasks {
			b, _ := os.ReadFile("/proc/self/task/" + tk.Name() + "/children")
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "s6-ftrigrd" {
					left = append(left, pid)
				}
			}
		}
		for _, pid := range left {
			if got, _ := syscall.Wait4(pid, nil, syscall.WNOHANG, nil); got == pid {
				left = slices.DeleteFunc(left, func(p int) bool { return p == pid })
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("s6-ftrigrd helpers %v did not exit", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// s6Supervise starts s6-supervise on dir; at cleanup the service is
// taken down and the supervisor told to exit, and both are waited for.
func s6Supervise(t *testing.T, dir string) *toolProc {
	t.Helper()
	sup := progStart(t, nil, nil, "s6-supervise", dir)
	t.Cleanup(func() {
		s6(t, "s6-svc", "-dx", dir)
		sup.wait(t)
	})
	// s6-svwait needs the status file s6-supervise writes as it starts.
	eventually(t, "s6-supervise to start", func() bool {
		return exec.Command("s6-svok", dir).Run() == nil && pathExists(filepath.Join(dir, "supervise", "status"))
	})
	return sup
}

func TestS6SupervisesHoldReadiness(t *testing.T) {
	leakcheck.Check(t)
	s6Tools(t)
	env, sockdir := toolEnv(t)
	name := fmt.Sprintf("@fdwire-s6-%d", os.Getpid())
	rules := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(rules, []byte("allow uid:0 store,retrieve,delete *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := s6Service(t, env, "3", "hold", "--ready-fd", "3", "--rules", rules, name)
	sup := s6Supervise(t, dir)

	if out, code := s6(t, "s6-svwait", "-U", "-t", "20000", dir); code != 0 {
		t.Fatalf("s6-svwait -U: exit %d %s; supervise: %s", code, out, sup.Stderr())
	}
	if out, _ := s6(t, "s6-svstat", "-o", "up,ready", dir); strings.Fields(out)[0] != "true" || strings.Fields(out)[1] != "true" {
		t.Fatalf("s6-svstat after readiness: %q", out)
	}
	// Ready means listening: a store and a retrieve work at once.
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r := toolRun(t, env, "", func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f} }, "hold-store", "-f", "3", name, "id"); r.Code != 0 {
		t.Fatalf("store right after s6 saw readiness: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-retrieve", name, "id", "--", "true"); r.Code != 0 {
		t.Fatalf("retrieve: %+v", r)
	}

	// s6-svc -d is SIGTERM (then SIGCONT): the holder's ordered teardown
	// ends it with 143, which s6 records as the exit code.
	s6(t, "s6-svc", "-d", dir)
	if out, code := s6(t, "s6-svwait", "-D", "-t", "20000", dir); code != 0 {
		t.Fatalf("s6-svwait -D: exit %d %s", code, out)
	}
	out, _ := s6(t, "s6-svstat", "-o", "up,exitcode", dir)
	if f := strings.Fields(out); len(f) != 2 || f[0] != "false" || f[1] != "143" {
		t.Fatalf("s6-svstat after s6-svc -d: %q (want down, exit code 143)", out)
	}
	if r := toolRun(t, env, "", nil, "hold-list", name); r.Code == 0 || !strings.Contains(r.Stderr, "ECONNREFUSED") {
		t.Fatalf("holder still answers after s6 took it down: %+v", r)
	}
	_ = sockdir // toolEnv's cleanup checks that nothing is left in it
}

// Without --ready-fd the holder never writes the newline s6 waits for:
// s6-svwait -U times out (s6's exit 99) although the service is up, so
// the readiness above is fdwire's doing, not s6's default.
func TestS6NoReadyFdIsNotReady(t *testing.T) {
	leakcheck.Check(t)
	s6Tools(t)
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-s6-nr-%d", os.Getpid())
	dir := s6Service(t, env, "3", "hold", name)
	s6Supervise(t, dir)
	out, code := s6(t, "s6-svwait", "-U", "-t", "700", dir)
	if code != 99 {
		t.Fatalf("s6-svwait -U without --ready-fd: exit %d %q (want 99, timed out)", code, out)
	}
	if out, _ := s6(t, "s6-svstat", "-o", "up,ready", dir); out != "true false\n" {
		t.Fatalf("s6-svstat: %q (want up, not ready)", out)
	}
}
