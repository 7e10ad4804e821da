package sys_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// TestOpenat2Resolve: each resolve flag refuses its escape with the
// kernel's errno, and the error names the flag.
func TestOpenat2Resolve(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	os.Symlink("f", filepath.Join(dir, "link"))
	os.Symlink("/etc", filepath.Join(dir, "abs"))
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(d)
	cases := []struct {
		path    string
		resolve uint64
		errno   unix.Errno
		names   string
	}{
		{"f", unix.RESOLVE_BENEATH, 0, ""},
		{"..", unix.RESOLVE_BENEATH, unix.EXDEV, "RESOLVE_BENEATH"},
		{"abs/passwd", unix.RESOLVE_BENEATH, unix.EXDEV, "RESOLVE_BENEATH"},
		{"link", unix.RESOLVE_NO_SYMLINKS, unix.ELOOP, "RESOLVE_NO_SYMLINKS"},
		{"/proc/self/fd/0", unix.RESOLVE_NO_MAGICLINKS, unix.ELOOP, "RESOLVE_NO_MAGICLINKS"},
		{"/proc/self", unix.RESOLVE_NO_XDEV, unix.EXDEV, "RESOLVE_NO_XDEV"},
	}
	for _, c := range cases {
		n, err := sys.Openat2(d, c.path, unix.OpenHow{Flags: unix.O_PATH, Resolve: c.resolve})
		if c.errno == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.path, err)
			} else {
				unix.Close(n)
			}
			continue
		}
		if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.names) {
			t.Errorf("%s with %s: got %v, want %v naming %s", c.path, sys.ResolveString(c.resolve), err, c.errno, c.names)
		}
		if err == nil {
			unix.Close(n)
		}
	}
	if f, ok := sys.ResolveFlag("RESOLVE_IN_ROOT"); !ok || f != unix.RESOLVE_IN_ROOT {
		t.Errorf("ResolveFlag(RESOLVE_IN_ROOT) = %v %v", f, ok)
	}
}
