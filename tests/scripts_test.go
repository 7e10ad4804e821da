package tests

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// TestScripts runs every example in scripts/: each is self-checking and
// must exit 0 with nothing on stderr, leaving no process behind.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "scripts", "*.lua"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			leakcheck.Check(t)
			r := fdwire(t, "", "scripts/"+filepath.Base(f))
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}

func TestHelloFdpassOutput(t *testing.T) {
	r := fdwire(t, "", "scripts/hello-fdpass.lua")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "hello from pid ") || !strings.Contains(r.Stdout, "through a passed pipe") {
		t.Fatalf("%+v", r)
	}
}
