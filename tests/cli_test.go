package tests

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

func TestVersionAndHelp(t *testing.T) {
	if r := fdwire(t, "", "--version"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "fdwire ") {
		t.Fatalf("--version: %+v", r)
	}
	r := fdwire(t, "", "--help")
	if r.Code != 0 || !strings.Contains(r.Stdout, "usage: fdwire") || !strings.Contains(r.Stdout, "exit status") {
		t.Fatalf("--help: %+v", r)
	}
	if r := fdwire(t, "", "--bogus"); r.Code != 2 || !strings.Contains(r.Stderr, "unknown option --bogus") {
		t.Fatalf("bad option: %+v", r)
	}
}

func TestEvalArgsAndExitCodes(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "-e", `print(arg[0], arg[1], arg[2], #arg)`, "a", "b")
	if r.Code != 0 || r.Stdout != "-e\ta\tb\t2\n" {
		t.Fatalf("args: %+v", r)
	}
	if r := fdwire(t, "", "-e", `os.exit(7)`); r.Code != 7 {
		t.Fatalf("os.exit(7): %+v", r)
	}
	if r := fdwire(t, "", "-e", `pcall(os.exit, 5) print("no")`); r.Code != 5 || r.Stdout != "" {
		t.Fatalf("os.exit under pcall: %+v", r)
	}
}

func TestUncaughtErrorPrintsMessageAndTraceback(t *testing.T) {
	r := fdwire(t, "", "-e", "local function f() sock.connect('unix:/nonexistent/x') end\nf()")
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1", r.Code)
	}
	for _, want := range []string{"fdwire: connect /nonexistent/x: ENOENT: no such file or directory", "stack traceback", "(command line):1"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	r = fdwire(t, "", "-e", `error("plain failure")`)
	if r.Code != 1 || !strings.Contains(r.Stderr, "plain failure") || !strings.Contains(r.Stderr, "stack traceback") {
		t.Fatalf("error(): %+v", r)
	}
}

func TestScriptFromStdin(t *testing.T) {
	if r := fdwire(t, `print("from stdin", arg[0])`, "-"); r.Code != 0 || r.Stdout != "from stdin\t-\n" {
		t.Fatalf("fdwire -: %+v", r)
	}
	// No arguments and stdin not a terminal: the script is stdin.
	if r := fdwire(t, `print(1 + 1)`); r.Code != 0 || r.Stdout != "2\n" {
		t.Fatalf("fdwire < script: %+v", r)
	}
}

func TestShebangScript(t *testing.T) {
	f := t.TempDir() + "/s.lua"
	os.WriteFile(f, []byte("#!/usr/bin/env fdwire\nprint('ok')\n"), 0o755)
	if r := fdwire(t, "", f); r.Code != 0 || r.Stdout != "ok\n" {
		t.Fatalf("%+v", r)
	}
}

func TestChildrenTerminatedAtExit(t *testing.T) {
	leakcheck.Check(t)
	for _, code := range []string{
		`print(proc.spawn{"sleep", "60"}:pid())`,
		`print(proc.spawn{"sleep", "60"}:pid()) error("fail after spawning")`,
		`print(proc.spawn{"sh", "-c", "trap '' TERM; sleep 60"}:pid()) os.exit(3)`,
		// The shell ignores SIGTERM and has started sleep: after SIGKILL
		// ends the shell, sleep is fdwire's orphan and must end too.
		`local r, w = fd.pipe()
		 local p = proc.spawn{"sh", "-c", "trap '' TERM; sleep 60 & echo started; wait", stdout = w}
		 w:close()
		 assert(r:read(100) == "started\n")
		 print(p:pid()) os.exit(3)`,
	} {
		r := fdwire(t, "", "-e", code)
		pid, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
		if err != nil {
			t.Fatalf("%s: %+v", code, r)
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("%s: child %d still exists after fdwire exited", code, pid)
		}
	}
}

func TestSigintTakesChildrenDown(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command(fdwireBin, "-e", `
		local p = proc.spawn{"sleep", "60"}
		print(p:pid())
		io.stdout:flush()
		task.sleep(60)
	`)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("no pid: %q", buf[:n])
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Errorf("exit after SIGINT: %v, want status 130", err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("fdwire did not exit after SIGINT")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("child %d survived SIGINT to fdwire", pid)
	}
}

// An fd fdwire inherited without FD_CLOEXEC must not reach its children.
func TestInheritedFdsDoNotLeakIntoChildren(t *testing.T) {
	leakcheck.Check(t)
	f, err := os.CreateTemp(t.TempDir(), "inherited")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := fdwireCmd(t, "", func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f} }, "-e", `
		assert(fd.from(3):info().kind == "file", "fdwire itself can still use fd 3")
		local r, w = fd.pipe()
		local p = proc.spawn{"sh", "-c", "ls /proc/$$/fd", fds = {[1] = w}}
		w:close()
		io.write(r:read(1000))
		p:wait()
	`)
	if r.Code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := strings.Fields(r.Stdout); strings.Join(got, " ") != "0 1 2" {
		t.Fatalf("child holds %v, want exactly 0 1 2", got)
	}
}
