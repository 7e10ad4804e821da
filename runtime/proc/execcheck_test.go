package proc_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/sys"
)

// TestAbsoluteProgramErrorsAreThePreForkOnes: a program named by an
// absolute path is checked by execve in Go's fork path instead of a stat
// and an access before the fork; the error of a missing, non-executable
// or directory program is still the one the pre-fork check gives (same
// text, errno and field), nothing is left registered or open, and cwd
// is still named first when it is the problem.
func TestAbsoluteProgramErrorsAreThePreForkOnes(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte("#!/bin/sh\necho no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"/nonexistent/prog", data, dir, data + "/x", loop, "/" + strings.Repeat("n", 300)} {
		for _, cwd := range []string{"", "/"} {
			want := proc.LookPath("spawn", prog)
			if want == nil {
				t.Fatalf("%s: the pre-fork check passes", prog)
			}
			before := len(fdio.OpenNumbers())
			p, err := owner.Spawn(proc.Attr{Argv: []string{prog}, Dir: cwd})
			if err == nil {
				p.Wait(0)
				t.Fatalf("%s: spawn succeeded", prog)
			}
			if err.Error() != want.Error() {
				t.Errorf("%s (cwd %q): error %q, want the pre-fork check's %q", prog, cwd, err, want)
			}
			var se, we *sys.Error
			if !errors.As(err, &se) || !errors.As(want, &we) || se.Errno() != we.Errno() || se.Facts["field"] != we.Facts["field"] {
				t.Errorf("%s: error %#v, want %#v", prog, err, want)
			}
			if after := len(fdio.OpenNumbers()); after != before {
				t.Errorf("%s: %d descriptors before, %d after", prog, before, after)
			}
			if n := len(owner.Children()); n != 0 {
				t.Errorf("%s: %d children registered after a failed spawn", prog, n)
			}
		}
	}
	// A bad cwd is still what the error names.
	_, err := owner.Spawn(proc.Attr{Argv: []string{"/nonexistent/prog"}, Dir: "/nonexistent"})
	var se *sys.Error
	if !errors.As(err, &se) || se.Facts["field"] != "cwd" {
		t.Errorf("bad cwd and program: %v, want the cwd named", err)
	}
}

// TestFdLimitFromTheCallerBoundsTheMap: Attr.FdLimit (the hard
// RLIMIT_NOFILE the caller has just read, as luabind does) bounds child
// numbers as the limit Spawn reads itself would: a number at it is EBADF
// before anything starts, one below it is placed.
func TestFdLimitFromTheCallerBoundsTheMap(t *testing.T) {
	leakcheck.Check(t)
	f, err := fdio.OpenFile("/dev/null", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := len(fdio.OpenNumbers())
	_, err = owner.Spawn(proc.Attr{Argv: []string{"/bin/true"}, Fds: map[int]*fdio.FD{5: f}, FdLimit: 5})
	var se *sys.Error
	if !errors.As(err, &se) || se.Errno() != unix.EBADF || !strings.Contains(err.Error(), "fds[5]") || !strings.Contains(err.Error(), "0 to 4") {
		t.Errorf("fds[5] with FdLimit 5: %v, want EBADF naming fds[5] and 0 to 4", err)
	}
	if after := len(fdio.OpenNumbers()); after != before {
		t.Errorf("%d descriptors before, %d after the refused spawn", before, after)
	}
	p, err := owner.Spawn(proc.Attr{Argv: []string{"/bin/true"}, Fds: map[int]*fdio.FD{4: f}, FdLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(0); err != nil || !st.Exited || st.Code != 0 {
		t.Errorf("fds[4] with FdLimit 5: %v %v", st, err)
	}
}
