package reap

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

func TestGroupKillsEveryMember(t *testing.T) {
	leakcheck.Check(t)
	g, err := NewGroup("fdwire-test")
	if err != nil {
		t.Skipf("no writable cgroup2 with cgroup.kill here: %v", err)
	}
	defer g.Remove()
	// A shell that starts a grandchild: both must die with the group. The
	// shell is born in the group (CLONE_INTO_CGROUP), so the grandchild it
	// forks at once is in it too.
	gfd, err := g.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(gfd)
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: gfd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && len(SessionMembers(cmd.Process.Pid)) == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(g.Pids()); n != 2 {
		t.Errorf("group has %d processes, want 2", n)
	}
	if !g.Populated() {
		t.Error("group not populated")
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for i := 0; i < 200 && g.Populated(); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if g.Populated() {
		t.Fatal("group still populated after cgroup.kill")
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

func TestSessionSweep(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		for _, m := range SessionMembers(cmd.Process.Pid) {
			Signal(m.Pid, unix.SIGKILL)
		}
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// Until the forked child has exec'd, it is still called "sh".
	var members []Stat
	for i := 0; i < 400 && (len(members) != 1 || members[0].Comm != "sleep"); i++ {
		time.Sleep(5 * time.Millisecond)
		members = SessionMembers(cmd.Process.Pid)
	}
	if len(members) != 1 || members[0].Comm != "sleep" {
		t.Fatalf("session members: %+v", members)
	}
	if err := Signal(members[0].Pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waited = true
	if err := Signal(members[0].Pid, unix.SIGKILL); err != nil {
		t.Fatalf("signalling a process that is gone: %v", err)
	}
}
