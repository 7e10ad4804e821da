package luabind

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/sys"
)

// luaRun is how one test script ended.
type luaRun struct {
	Stdout, Stderr string
	Err            string // the error report, "" on success
	Failures       int    // background tasks that failed with nobody waiting
}

// runLuaFull runs code as a script in a fresh runtime (with the default
// modules), closes the runtime, and checks that nothing leaked. Stderr is
// both the runtime's own reports and whatever reached descriptor 2 (Lua's
// io.stderr, fd.stderr, children), which is a file while the script runs.
func runLuaFull(t *testing.T, code string) luaRun {
	t.Helper()
	leakcheck.Check(t)
	var out, errb bytes.Buffer
	var r luaRun
	fd2 := captureFd2(t, func() {
		rt, err := newTestRuntime(Options{Stdout: &out, Stderr: &errb, Script: t.Name()})
		if err != nil {
			t.Error(err)
			return
		}
		res := rt.RunString(code, "="+t.Name())
		r.Failures = rt.Failures()
		if res.Err != nil {
			r.Err = rt.ErrorReport(res.Err)
		}
		rt.Close()
	})
	if t.Failed() {
		t.FailNow()
	}
	r.Stdout, r.Stderr = out.String(), errb.String()+fd2
	return r
}

// captureFd2 runs fn with descriptor 2 on a temporary file (not a pipe:
// nothing can block on it) and returns what was written there. These
// tests do not run in parallel, so the process-wide swap is safe.
func captureFd2(t *testing.T, fn func()) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved, err := sys.DupCloexec(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Dup3(int(f.Fd()), 2, 0); err != nil {
		sys.Close(saved)
		t.Fatal(err)
	}
	func() {
		defer func() {
			sys.Dup3(saved, 2, 0)
			sys.Close(saved)
		}()
		fn()
	}()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runLua runs code and returns stdout and the error text ("" on
// success). It fails the test when a background task failed or stderr
// has anything: a test that expects either uses runLuaFull.
func runLua(t *testing.T, code string) (string, string) {
	t.Helper()
	r := runLuaFull(t, code)
	checkQuiet(t, r)
	return r.Stdout, r.Err
}

// checkQuiet fails t when a background task failed or stderr has output.
func checkQuiet(t *testing.T, r luaRun) {
	t.Helper()
	if r.Failures > 0 {
		t.Errorf("%d background task(s) failed; stderr:\n%s", r.Failures, r.Stderr)
	} else if r.Stderr != "" {
		t.Errorf("unexpected stderr:\n%s", r.Stderr)
	}
}

// mustRun runs code and fails the test on a Lua error, a failed
// background task, or any output on stderr.
func mustRun(t *testing.T, code string) string {
	t.Helper()
	out, msg := runLua(t, code)
	if msg != "" {
		t.Fatalf("lua error: %s\noutput:\n%s", msg, out)
	}
	return out
}

// mustRunStderr is mustRun for code that must write to stderr: each want
// must appear there, and no background task may fail.
func mustRunStderr(t *testing.T, code string, want ...string) string {
	t.Helper()
	r := runLuaFull(t, code)
	if r.Err != "" {
		t.Fatalf("lua error: %s\noutput:\n%s", r.Err, r.Stdout)
	}
	if r.Failures > 0 {
		t.Errorf("%d background task(s) failed; stderr:\n%s", r.Failures, r.Stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.Stderr)
		}
	}
	return r.Stdout
}

// mustRunStderrLines is mustRunStderr that wants stderr to be exactly
// lines, in order.
func mustRunStderrLines(t *testing.T, code string, lines ...string) string {
	t.Helper()
	r := runLuaFull(t, code)
	if r.Err != "" {
		t.Fatalf("lua error: %s\noutput:\n%s", r.Err, r.Stdout)
	}
	if r.Failures > 0 {
		t.Errorf("%d background task(s) failed", r.Failures)
	}
	if want := strings.Join(lines, "\n") + "\n"; r.Stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.Stderr, want)
	}
	return r.Stdout
}

// mustFail runs code, expects an error, and checks it contains each want.
func mustFail(t *testing.T, code string, want ...string) string {
	t.Helper()
	out, msg := runLua(t, code)
	if msg == "" {
		t.Fatalf("expected an error, got none; output:\n%s", out)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	return msg
}
