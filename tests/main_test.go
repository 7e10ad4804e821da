// Package tests runs fdwire end to end: the real binary, real scripts,
// real child processes.
package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fdwireBin is the binary built once for the whole package.
var fdwireBin string

// repoRoot is the checkout's top folder (scripts/, docs/ live there).
var repoRoot string

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "fdwire-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fdwireBin = filepath.Join(dir, "fdwire")
	statSources(repoRoot)
	build := exec.Command("go", "build", "-o", fdwireBin, "./cmd/fdwire")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building fdwire:", err)
		os.Exit(1)
	}
	// Orphaned grandchildren become our children, so the leak checks see
	// anything a script left running.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// statSources stats every file the binary is built from. The go command
// caches this package's results by the files the test itself touches,
// and the binary is built by a child "go build" it cannot see: without
// this, a change to luabind or stdlib left "ok (cached)" from before.
func statSources(root string) {
	for _, top := range []string{"go.mod", "go.sum", "cmd", "luabind", "runtime", "stdlib", "internal", "scripts", "docs"} {
		filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err == nil {
				os.Stat(p)
			}
			return nil
		})
	}
}

// taskFailed is the runtime's report of a background task that failed
// with nobody waiting for it (luabind's unawaitedFailure).
var taskFailed = regexp.MustCompile(`(?m)^fdwire: task \d+ failed: `)

// Run is the outcome of one fdwire invocation.
type Run struct {
	Stdout, Stderr string
	Code           int
}

// fdwire runs the binary with args (in repoRoot), feeding stdin, and
// waits at most a minute.
func fdwire(t testing.TB, stdin string, args ...string) Run {
	t.Helper()
	return fdwireCmd(t, stdin, nil, args...)
}

// fdwireCmd is fdwire with a hook to adjust the command before it starts.
func fdwireCmd(t testing.TB, stdin string, adjust func(*exec.Cmd), args ...string) Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fdwireBin, args...)
	cmd.Dir = repoRoot
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "FDWIRE="+fdwireBin)
	if adjust != nil {
		adjust(cmd)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running fdwire %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("fdwire %v did not finish within a minute; stderr:\n%s", args, errb.String())
	}
	// Whatever the test checks, a failed background task is a failure.
	if taskFailed.MatchString(errb.String()) {
		t.Errorf("fdwire %v: a background task failed (exit %d); stderr:\n%s", args, code, errb.String())
	}
	return Run{out.String(), errb.String(), code}
}
