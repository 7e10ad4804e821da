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
	// Quick rows are labelled with the sizes they ran (20 processes, a
	// 10- and a 100-process topology), never the full run's.
	for _, metric := range []string{"fd passing, 1 fd/message (", "fd passing, 253 fds/message", "start-up", "20 processes spawned",
		"10-process topology", "100-process topology", "peak RSS, 20 processes", "peak RSS, 10-process topology",
		"peak RSS, 100-process topology", "pipe relay", "spawn /bin/true", "connections passed", "connections served"} {
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
		// | metric | C | Go | Python | fdwire | ...
		goCell, fd := strings.TrimSpace(cells[3]), strings.TrimSpace(cells[5])
		needsC := metric == "pipe relay" || strings.HasPrefix(metric, "connections") // C source/sink or client
		switch {
		case needsC && gccErr != nil:
		case fd == "-":
			t.Errorf("the %q row has no fdwire value:\n%s", metric, text)
		}
		// The Go baseline runs wherever Go builds fdwire.
		if goCell == "-" && (strings.HasPrefix(metric, "fd passing") || metric == "spawn /bin/true" || metric == "start-up") {
			t.Errorf("the %q row has no Go baseline value:\n%s", metric, text)
		}
		if tgt := strings.TrimSpace(cells[len(cells)-2]); (strings.HasPrefix(tgt, "≤ ") || strings.HasPrefix(tgt, "≥ ")) && !strings.Contains(tgt, "not graded") {
			t.Errorf("--quick graded an absolute target in %q: %s", metric, tgt)
		}
	}
	if strings.Contains(text, "1000-process") || strings.Contains(text, "10,000") {
		t.Errorf("a --quick row is labelled with a full run's size:\n%s", text)
	}
	if strings.Contains(text, "FAILED") {
		t.Errorf("a workload failed:\n%s", text)
	}
	t.Logf("\n%s", text)
}

// TestBenchRunCommandLine: bench/run names itself in its help, and an
// unknown workload id is an error, not an empty table.
func TestBenchRunCommandLine(t *testing.T) {
	runner := filepath.Join(t.TempDir(), "benchrun")
	build := exec.Command("go", "build", "-o", runner, "./bench/cmd/run")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building bench/cmd/run: %v\n%s", err, out)
	}
	help := exec.Command(runner, "--help")
	help.Dir = repoRoot
	out, err := help.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "usage: bench/run ") {
		t.Errorf("bench/run --help: %v, want a usage naming bench/run:\n%s", err, out)
	}
	bogus := exec.Command(runner, "-only", "bogus", "-fdwire", os.DevNull)
	bogus.Dir = repoRoot
	out, err = bogus.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), `unknown workload "bogus"`) {
		t.Errorf("bench/run -only bogus: %v, want exit 2 naming the id:\n%s", err, out)
	}
}
