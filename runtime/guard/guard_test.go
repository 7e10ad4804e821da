package guard

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
)

func TestTempDirRemovedOnClose(t *testing.T) {
	leakcheck.Check(t)
	t.Setenv("TMPDIR", t.TempDir())
	dir, h, err := TempDir("fdwire-guard", "test-dir")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir %s: %v %v", dir, st, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there after close: %v", dir, err)
	}
}

// TestTempDirLeavesAReplacement: a directory put in place of the one made
// is someone else's, and survives the guard's close.
func TestTempDirLeavesAReplacement(t *testing.T) {
	leakcheck.Check(t)
	t.Setenv("TMPDIR", t.TempDir())
	dir, h, err := TempDir("fdwire-guard", "test-dir")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "keep")
	os.WriteFile(keep, nil, 0o600)
	h.Close()
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the replacement directory was removed: %v", err)
	}
}

func TestTempDirBadTMPDIR(t *testing.T) {
	leakcheck.Check(t)
	t.Setenv("TMPDIR", "/nonexistent/fdwire-guard")
	if _, _, err := TempDir("x", "t"); err == nil || err.Error() != "mkdtemp /nonexistent/fdwire-guard: ENOENT: no such file or directory" {
		t.Fatalf("err = %v", err)
	}
}

func TestUnlinkOnCloseOnlySameInode(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	for _, replace := range []bool{false, true} {
		p := filepath.Join(dir, "sock")
		os.WriteFile(p, []byte("ours"), 0o600)
		r, w, err := fdio.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := UnlinkOnClose(r, p); err != nil {
			t.Fatal(err)
		}
		if replace {
			os.Remove(p)
			os.WriteFile(p, []byte("theirs"), 0o600)
		}
		r.Close()
		w.Close()
		_, err = os.Lstat(p)
		if replace && err != nil {
			t.Errorf("a file of the same name made later was removed: %v", err)
		}
		if !replace && !os.IsNotExist(err) {
			t.Errorf("our file is still there: %v", err)
		}
		os.Remove(p)
	}
	r, w, _ := fdio.Pipe()
	defer r.Close()
	defer w.Close()
	if err := UnlinkOnClose(r, filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing path was accepted")
	}
}

func TestCgroupKilledAndRemovedOnClose(t *testing.T) {
	leakcheck.Check(t)
	path, h, err := Cgroup("fdwire-guard-test", "test-cgroup")
	if err != nil {
		t.Skipf("no writable cgroup2 with cgroup.kill here: %v", err)
	}
	n, _ := h.Num()
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: n}
	if err := cmd.Start(); err != nil {
		h.Close()
		t.Fatal(err)
	}
	h.Close()
	cmd.Wait()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s still there: %v", path, err)
	}
}
