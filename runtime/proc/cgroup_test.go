package proc_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
)

// TestChildrenCgroup: an owner made with Cgroup puts a child (and what it
// forks) in its children group, a detached child and one with a cgroup of
// its own elsewhere; Close ends a grandchild the child left behind (no
// Reaper here: nobody else would) and removes the group.
func TestChildrenCgroup(t *testing.T) {
	leakcheck.Check(t)
	o, err := proc.NewOwner(proc.OwnerOptions{Cgroup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(time.Second)
	r, w, err := fdio.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The shell exits at once, leaving its grandchild to init.
	p, err := o.Spawn(proc.Attr{Argv: []string{"sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!"}, Fds: map[int]*fdio.FD{1: w}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := unix.Read(r.Raw(), buf)
	p.Wait(0)
	orphan, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	path, err := o.ChildrenCgroup()
	if path == "" {
		o.Close(time.Second)
		t.Skipf("no children cgroup here (needs a writable cgroup2): %v", err)
	}
	defer unix.Kill(orphan, unix.SIGKILL)
	if got := cgroupOf(t, orphan); !strings.HasSuffix(got, "/"+filepath.Base(path)) {
		t.Errorf("the grandchild is in %q, not in the children group %s", got, path)
	}
	d, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "60"}, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { unix.Kill(d.Pid, unix.SIGKILL); unix.Wait4(d.Pid, nil, 0, nil) }()
	if got, own := cgroupOf(t, d.Pid), cgroupOf(t, os.Getpid()); got != own {
		t.Errorf("the detached child is in %q, not in ours (%q)", got, own)
	}
	o.Close(time.Second)
	for i := 0; i < 1000 && alive(orphan); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if alive(orphan) {
		t.Errorf("the grandchild %d outlived Close", orphan)
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("the children group %s is left", path)
	}
	if _, err := o.Spawn(proc.Attr{Argv: []string{"true"}}); err == nil {
		t.Errorf("spawn after Close succeeded")
	}
}

func cgroupOf(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// alive: running and not a zombie (the grandchild is init's to reap).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}
