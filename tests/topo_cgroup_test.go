package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

var cgroupSerial atomic.Int64

// ownCgroup is a cgroup v2 directory made for one test, under this test
// process's own cgroup. fdwire started in it (inCgroup) makes its
// topology cgroups inside it, so the leftover check looks at this run's
// groups only, never at another worktree's or an earlier killed run's.
type ownCgroup struct {
	path string
	fd   int
}

// newOwnCgroup makes the group, or returns nil (and logs why) where
// cgroup2 is not writable; callers then skip only the cgroup check.
func newOwnCgroup(t *testing.T) *ownCgroup {
	t.Helper()
	g, why := tryOwnCgroup(t)
	if g == nil {
		t.Logf("no cgroup check: %s", why)
	}
	return g
}

// needOwnCgroup is newOwnCgroup for a test that is about cgroups: without
// one it skips, saying why none could be made.
func needOwnCgroup(t *testing.T) *ownCgroup {
	t.Helper()
	g, why := tryOwnCgroup(t)
	if g == nil {
		t.Skipf("no cgroup2 group of this test's own can be made (%s): this test needs a writable cgroup2 mount (root, or a delegated subtree)", why)
	}
	return g
}

// tryOwnCgroup makes the group, or says why it cannot.
func tryOwnCgroup(t *testing.T) (*ownCgroup, string) {
	t.Helper()
	mount := ""
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err.Error()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, x := range fields {
			if x == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && mount == "" {
				mount = fields[4]
			}
		}
	}
	f.Close()
	b, _ := os.ReadFile("/proc/self/cgroup")
	own := ""
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	if mount == "" || own == "" {
		return nil, "no cgroup2 mount"
	}
	p := filepath.Join(mount, own, fmt.Sprintf("fdwire-gotest-%d-%d", os.Getpid(), cgroupSerial.Add(1)))
	if err := os.Mkdir(p, 0o755); err != nil {
		return nil, err.Error()
	}
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(p)
		return nil, err.Error()
	}
	g := &ownCgroup{path: p, fd: fd}
	t.Cleanup(func() {
		syscall.Close(g.fd)
		// What fdwire left was reported by the test (left); removing it
		// here keeps a failed run from littering the machine's cgroups.
		for _, sub := range g.left() {
			os.Remove(sub)
		}
		if err := os.Remove(g.path); err != nil {
			t.Logf("cgroup %s not removed: %v", g.path, err)
		}
	})
	return g, ""
}

// in starts cmd inside the group (clone3 CLONE_INTO_CGROUP).
func (g *ownCgroup) in(cmd *exec.Cmd) {
	if g == nil {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, g.fd
}

// left lists the cgroups fdwire made in the group and did not remove.
func (g *ownCgroup) left() []string {
	if g == nil {
		return nil
	}
	var out []string
	ents, _ := os.ReadDir(g.path)
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(g.path, e.Name()))
		}
	}
	return out
}
