package luabind

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// runLua runs code as a script in a fresh runtime, closes the runtime,
// and checks that nothing leaked. It returns stdout and the error text
// ("" on success).
func runLua(t *testing.T, code string) (string, string) {
	t.Helper()
	leakcheck.Check(t)
	var out, errb bytes.Buffer
	rt, err := newTestRuntime(Options{Stdout: &out, Stderr: &errb, Script: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	res := rt.RunString(code, "="+t.Name())
	msg := ""
	if res.Err != nil {
		msg = rt.ErrorReport(res.Err)
	}
	rt.Close()
	return out.String(), msg
}

// mustRun runs code and fails the test on a Lua error.
func mustRun(t *testing.T, code string) string {
	t.Helper()
	out, msg := runLua(t, code)
	if msg != "" {
		t.Fatalf("lua error: %s\noutput:\n%s", msg, out)
	}
	return out
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
