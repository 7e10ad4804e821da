package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// TestBenchQuick runs bench/run --quick (every workload once, small
// counts) against the binary the suite built, so the benchmarks and their
// C, Python and Lua programs cannot rot. It asserts that they ran, not how
// fast: speed goals live in the table bench/run prints.
func TestBenchQuick(t *testing.T) {
	leakcheck.Check(t)
	runner := filepath.Join(t.TempDir(), "benchrun")
	build := exec.Command("go", "build", "-o", runner, "./bench/cmd/run")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building bench/cmd/run: %v\n%s", err, out)
	}
	cmd := exec.Command(runner, "--quick", "-fdwire", fdwireBin, "-build", t.TempDir())
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("bench/run --quick: %v\n%s", err, text)
	}
	_, gccErr := exec.LookPath("gcc")
	for _, metric := range []string{"fd passing, 1 fd/message", "fd passing, 253 fds/message", "start-up", "1000 processes spawned", "1000-process topology", "peak RSS, 1000 processes", "peak RSS, 1000-process topology", "pipe relay", "spawn /bin/true"} {
		line := ""
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "| "+metric) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("no %q row in the table:\n%s", metric, text)
			continue
		}
		cells := strings.Split(line, "|")
		// | metric | C | Python | fdwire | ...
		fd := strings.TrimSpace(cells[4])
		switch {
		case metric == "spawn /bin/true" && !exists("bench/lua/spawn.lua"):
			// written with issue 5's spawn benchmark
		case metric == "pipe relay" && gccErr != nil:
			// the relay's source and sink are the C program
		case fd == "-":
			t.Errorf("the %q row has no fdwire value:\n%s", metric, text)
		}
	}
	if strings.Contains(text, "FAILED") {
		t.Errorf("a workload failed:\n%s", text)
	}
	t.Logf("\n%s", text)
}

func exists(rel string) bool {
	_, err := os.Stat(filepath.Join(repoRoot, rel))
	return err == nil
}
