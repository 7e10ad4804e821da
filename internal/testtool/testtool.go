// Package testtool finds the outside programs tests run, and skips the
// test with the install hint when one is missing.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Python returns a python3 that an unprivileged uid can run too (a
// system one, not a per-user install under /root), or skips the test.
func Python(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed (apt-get install python3)")
	}
	return p
}
