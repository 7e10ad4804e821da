package proc_test

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/reap"
)

// TestSpawnFailureAtEachStepLeaksNothing injects a failure at every step
// of a spawn that uses every feature that makes descriptors (notify
// socket and pipe, stdio pipes and /dev/null, the trampoline's report
// pipe, a cgroup) and checks that each failure closes everything and
// leaves no child.
func TestSpawnFailureAtEachStepLeaksNothing(t *testing.T) {
	leakcheck.Check(t)
	o, err := proc.NewOwner(proc.OwnerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(time.Second)
	cg, err := fdio.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	umask := 0o22
	attr := func() proc.Attr {
		return proc.Attr{Argv: []string{"true"}, Notify: true, NotifyFd: 5, Umask: &umask,
			Stdio: [3]proc.Stdio{proc.StdioPipe, proc.StdioNull, proc.StdioPipe}}
	}
	for _, step := range proc.SpawnSteps {
		before := len(fdio.OpenNumbers())
		proc.SetFailAt(o, step)
		p, err := o.Spawn(attr())
		if err == nil {
			p.Wait(0)
			t.Errorf("%s: spawn succeeded despite the injected failure", step)
			continue
		}
		if !strings.Contains(err.Error(), "injected failure at "+step) {
			t.Errorf("%s: error %v is not the injected one", step, err)
		}
		if after := len(fdio.OpenNumbers()); after != before {
			t.Errorf("%s: %d descriptors before, %d after the failed spawn", step, before, after)
		}
		if n := len(o.Children()); n != 0 {
			t.Errorf("%s: %d children left registered", step, n)
		}
	}
	proc.SetFailAt(o, "")
	// The reproduction of issue 13: a closed cgroup handle leaked five
	// descriptors (notify socket, pipes, trampoline report pipe).
	cg2, _ := fdio.Dup(cg)
	cg2.Close()
	before := len(fdio.OpenNumbers())
	a := attr()
	a.Cgroup = cg2
	if _, err := o.Spawn(a); !errors.Is(err, unix.EBADF) {
		t.Errorf("closed cgroup handle: %v, want EBADF", err)
	}
	if after := len(fdio.OpenNumbers()); after != before {
		t.Errorf("closed cgroup handle: %d descriptors before, %d after", before, after)
	}
}

// TestTwoOwnersEndOnlyTheirOwn: closing one owner ends its children and
// leaves the other's running.
func TestTwoOwnersEndOnlyTheirOwn(t *testing.T) {
	leakcheck.Check(t)
	a, err := proc.NewOwner(proc.OwnerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proc.NewOwner(proc.OwnerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(time.Second)
	pa, err := a.Spawn(proc.Attr{Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Spawn(proc.Attr{Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Children()) != 1 || a.Children()[0] != pa || b.Knows(pa.Pid) {
		t.Fatal("each owner must list only its own child")
	}
	a.Close(time.Second)
	if s := pa.Status(); s == nil || s.Signal != unix.SIGTERM {
		t.Errorf("a's child: status %v, want signal SIGTERM", s)
	}
	if run, err := pb.Running(); !run || err != nil {
		t.Errorf("b's child was ended by a's Close (running %v, %v)", run, err)
	}
	if _, err := a.Spawn(proc.Attr{Argv: []string{"true"}}); !errors.Is(err, unix.EBADF) {
		t.Errorf("spawn on a closed owner: %v, want EBADF", err)
	}
}

// TestDeathSignalSurvivesThreadChurn: children must not get their death
// signal while this process lives, however Go's threads come and go.
// Goroutines that lock a thread and exit make Go end that thread; a child
// forked on such a thread would be SIGKILLed. Spawns go through the
// owner's spawner thread, so none is.
func TestDeathSignalSurvivesThreadChurn(t *testing.T) {
	leakcheck.Check(t)
	o, err := proc.NewOwner(proc.OwnerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(time.Second)
	// churn ends up to n threads: each goroutine locks its thread and
	// exits without unlocking, which makes Go end that thread.
	churn := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
			}()
		}
		wg.Wait()
	}
	var kids []*proc.Proc
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				p, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "600"}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				kids = append(kids, p)
				mu.Unlock()
				churn(8)
			}
		}()
	}
	wg.Wait()
	churn(64)
	for _, p := range kids {
		if run, err := p.Running(); !run {
			t.Errorf("child %d ended while this process lives (%v, %v)", p.Pid, p.Status(), err)
		}
	}
}

// TestDetachedChildIsLeftAlone: a detached child gets its own session, is
// not ended when its owner closes, and the Reaper, when the last owner
// closes, spares it.
func TestDetachedChildIsLeftAlone(t *testing.T) {
	r := reap.NewReaper()
	o, err := proc.NewOwner(proc.OwnerOptions{Reaper: r})
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "60"}, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid
	defer func() { unix.Kill(pid, unix.SIGKILL); r.ReapZombies(); r.Close(0) }()
	st, ok := reap.ReadStat(pid)
	if !ok || st.Session != pid {
		t.Fatalf("detached child: session %d, want its own (%d)", st.Session, pid)
	}
	o.Close(100 * time.Millisecond)
	r.Close(100 * time.Millisecond)
	st, ok = reap.ReadStat(pid)
	if !ok || st.State == "Z" {
		t.Fatalf("the detached child was ended (state %q)", st.State)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "SigPnd:") || strings.HasPrefix(l, "ShdPnd:") {
			if f := strings.Fields(l); len(f) == 2 && strings.Trim(f[1], "0") != "" {
				t.Errorf("a signal is pending for the detached child: %s", l)
			}
		}
	}
	// Re-arm to reap it as the orphan-like child it now is.
	r.Arm()
}

// TestOrphanZombiesReapedWhenExitsAreThrottled: each child leaves an
// exited grandchild that comes to us as a zombie when the child exits.
// A child's exit lists nothing from /proc (a teardown of N children no
// longer lists N children N times), yet every such zombie is still reaped
// soon after, by a later spawn's look or the reaper's tick.
func TestOrphanZombiesReapedWhenExitsAreThrottled(t *testing.T) {
	r := reap.NewReaper()
	o, err := proc.NewOwner(proc.OwnerOptions{Reaper: r})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(100 * time.Millisecond)
	defer o.Close(100 * time.Millisecond)
	const n = 40
	var kids []*proc.Proc
	for i := 0; i < n; i++ {
		p, err := o.Spawn(proc.Attr{Argv: []string{"sh", "-c", "true & exec sleep 0.05"}})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, p)
	}
	for _, p := range kids {
		if _, err := p.Wait(0); err != nil {
			t.Fatal(err)
		}
	}
	zombies := func() []int { return zombieChildren(0) }
	deadline := time.Now().Add(5 * time.Second)
	for len(zombies()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if z := zombies(); len(z) > 0 {
		t.Fatalf("orphaned zombies never reaped: %v", z)
	}
}

// TestCloseDuringSpawnEndsTheNewChild: a Close that falls between a
// child's fork and its registration (a Go caller spawning from one
// goroutine while another closes the owner) lists the children before this
// one is among them. The spawn must then end the child itself and fail,
// not return a child that nobody will end.
func TestCloseDuringSpawnEndsTheNewChild(t *testing.T) {
	leakcheck.Check(t)
	inPinnedOwner(t, func(o *proc.Owner, fail func(string)) {
		born := 0
		proc.SetAfterFork(o, func(pid int) {
			born = pid
			o.Close(time.Second) // the pinned path holds no lock Close needs
		})
		p, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "600"}, Stdio: [3]proc.Stdio{proc.StdioPipe, proc.StdioNull, proc.StdioNull}})
		if err == nil {
			fail("the spawn returned a child after its owner was closed")
			p.Kill(unix.SIGKILL)
			p.Wait(0)
			return
		}
		if !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "closed during the spawn") {
			fail("error: " + err.Error())
		}
		if born == 0 {
			fail("no child was forked")
			return
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(born)); err == nil {
			fail("the child born during Close is still there")
		}
	}) // leakcheck counts the descriptors: the stdin pipe must be gone
}

// TestOrphanZombieReapedByTheNextSpawn: the orphans a reaped child leaves
// are looked for at the next spawn, before its fork (not in the wait that
// reaped the child): an orphan zombie there before that spawn is gone when
// it returns, without waiting for the Reaper's tick. (Spawns look at most
// once per 10 ms; each round here takes longer.)
func TestOrphanZombieReapedByTheNextSpawn(t *testing.T) {
	r := reap.NewReaper()
	o, err := proc.NewOwner(proc.OwnerOptions{Reaper: r})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(100 * time.Millisecond)
	defer o.Close(100 * time.Millisecond)
	zombies := func() []int { return zombieChildren(0) }
	seen := 0
	for i := 0; i < 20 && seen < 3; i++ {
		p, err := o.Spawn(proc.Attr{Argv: []string{"sh", "-c", "true & exec sleep 0.05"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(0); err != nil {
			t.Fatal(err)
		}
		// The orphan (sh's "true") may exit after sh under load: wait for
		// its zombie (the tick may take it first: then the round is lost).
		var before []int
		for deadline := time.Now().Add(2 * time.Second); len(before) == 0 && time.Now().Before(deadline); {
			if before = zombies(); len(before) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		if len(before) == 0 {
			continue
		}
		seen++
		q, err := o.Spawn(proc.Attr{Argv: []string{"/bin/true"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range before {
			if st, ok := reap.ReadStat(pid); ok && st.State == "Z" {
				t.Errorf("round %d: orphan zombie %d left after the next spawn", i, pid)
			}
		}
		if _, err := q.Wait(0); err != nil {
			t.Fatal(err)
		}
	}
	if seen == 0 {
		t.Fatal("no round saw an orphan zombie before its next spawn")
	}
}

// TestOrphanZombieBehindAnUnwaitedChildIsReapedByTheTick: the Reaper's
// tick does not list /proc behind an exited child its owner claims unless
// the tick before found one too (a waiter is usually on its way). An owner
// that never waits for its exited child must not hide an orphan zombie
// behind it for good: a later tick reaps the orphan.
func TestOrphanZombieBehindAnUnwaitedChildIsReapedByTheTick(t *testing.T) {
	r := reap.NewReaper()
	o, err := proc.NewOwner(proc.OwnerOptions{Reaper: r})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(100 * time.Millisecond)
	defer o.Close(100 * time.Millisecond)
	// The oldest child, exited and never waited for here: the zombie that
	// waitid(P_ALL) names first.
	a, err := o.Spawn(proc.Attr{Argv: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.Spawn(proc.Attr{Argv: []string{"sh", "-c", "true & exec sleep 0.05"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(0); err != nil {
		t.Fatal(err)
	}
	orphans := func() []int { return zombieChildren(a.Pid) }
	deadline := time.Now().Add(5 * time.Second)
	for len(orphans()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if z := orphans(); len(z) > 0 {
		t.Errorf("orphan zombies %v never reaped behind the unwaited child %d", z, a.Pid)
	}
	if st, ok := reap.ReadStat(a.Pid); !ok || st.State != "Z" {
		t.Errorf("the unwaited child %d was reaped by the Reaper, not left to its owner (state %+v)", a.Pid, st)
	}
	if _, err := a.Wait(0); err != nil {
		t.Fatal(err)
	}
}

// inPinnedOwner runs body in a goroutine of its own, with an owner made
// there with PinCaller (the thread it pins ends with that goroutine, not
// with the test's), closes the owner, and reports what body failed.
func inPinnedOwner(t *testing.T, body func(o *proc.Owner, fail func(string))) {
	t.Helper()
	var bad []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		o, err := proc.NewOwner(proc.OwnerOptions{PinCaller: true})
		if err != nil {
			bad = append(bad, err.Error())
			return
		}
		defer o.Close(time.Second)
		body(o, func(msg string) { bad = append(bad, msg) })
	}()
	<-done
	for _, b := range bad {
		t.Error(b)
	}
}

// zombieChildren lists this process's children that are zombies, but
// except (0: none).
func zombieChildren(except int) (z []int) {
	for _, pid := range reap.Children() {
		if st, ok := reap.ReadStat(pid); ok && st.State == "Z" && pid != except {
			z = append(z, pid)
		}
	}
	return z
}
