package fswait

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
)

// A directory made after the watch on it failed but before its parent's
// watch exists raises no event anywhere; Try must see it and watch
// deeper, or a wait for dir/a/b/c sleeps through the creation of b and c.
// (TestFsModule timed out so under load.)
func TestTryWatchesDeeperWhenAnAncestorAppearsMeanwhile(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "c")
	afterMiss = func(missed string) {
		if missed == filepath.Join(dir, "a") {
			os.Mkdir(missed, 0o755) // the creation no watch sees
		}
	}
	defer func() { afterMiss = nil }()
	w, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Try(w, p); err == nil {
		t.Fatal("Try reported a path that does not exist")
	}
	afterMiss = nil
	go func() {
		time.Sleep(20 * time.Millisecond)
		os.Mkdir(filepath.Join(dir, "a", "b"), 0o755)
		os.WriteFile(p, nil, 0o600)
	}()
	// Only an event on w wakes a waiter: it must come.
	pfd := []unix.PollFd{{Fd: int32(w.Raw()), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
		t.Fatalf("no event on the watch for b and c made inside a (%d, %v)", n, err)
	}
	if err := fdio.Block(w, unix.POLLIN, 5*time.Second, "wait_path", func() error { return Try(w, p) }); err != nil {
		t.Fatal(err)
	}
}

// Try returns ErrAgain, not a loop, when a component is a regular file.
func TestTryComponentIsAFile(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o600)
	w, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Try(w, filepath.Join(dir, "f", "x")); err == nil {
		t.Fatal("Try reported f/x under a regular file f")
	}
}
