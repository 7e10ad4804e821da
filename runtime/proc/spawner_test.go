package proc_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/ns"
	"github.com/fdwire/fdwire/runtime/proc"
)

// mainThreadHelperEnv makes this test binary, re-run by
// TestMainThreadSpawnsSurviveThreadChurn, spawn from its main thread.
const mainThreadHelperEnv = "FDWIRE_TEST_MAIN_THREAD_SPAWNS"

func init() {
	if os.Getenv(mainThreadHelperEnv) != "" {
		runtime.LockOSThread() // TestMain then runs on the main thread
	}
}

// endThreads makes Go end up to n threads: each goroutine locks its
// thread and exits without unlocking. A child whose death signal is
// bound to such a thread would be killed.
func endThreads(n int) {
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

// threadChildren lists the children forked by thread tid of this process.
func threadChildren(tid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/children", tid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// spawnAndChurn spawns n sleeps from the calling goroutine, ends Go
// threads in between, and says what is wrong: with here, a spawn that went
// to the spawner thread or a child not forked by this thread; without, a
// child forked here; and any child that died.
func spawnAndChurn(o *proc.Owner, n int, here bool) []string {
	var bad []string
	tid := unix.Gettid()
	var kids []*proc.Proc
	for i := 0; i < n; i++ {
		p, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "600"}})
		if err != nil {
			return append(bad, err.Error())
		}
		kids = append(kids, p)
		if slices.Contains(threadChildren(tid), p.Pid) != here {
			bad = append(bad, fmt.Sprintf("child %d: a child of this thread %d is %v, want %v", p.Pid, tid, !here, here))
		}
		endThreads(8)
	}
	endThreads(64)
	if h := proc.Handoffs(o); (h == 0) != here {
		bad = append(bad, fmt.Sprintf("%d of %d spawns went to the spawner thread", h, n))
	}
	for _, p := range kids {
		if run, err := p.Running(); !run {
			bad = append(bad, fmt.Sprintf("child %d ended while this process lives (%v, %v)", p.Pid, p.Status(), err))
		}
	}
	return bad
}

// mainThreadHelper is the re-run binary's whole work (from TestMain).
func mainThreadHelper() int {
	if unix.Gettid() != unix.Getpid() {
		fmt.Println("not on the main thread")
		return 1
	}
	o, err := proc.NewOwner(proc.OwnerOptions{})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer o.Close(time.Second)
	bad := spawnAndChurn(o, 6, false)
	if len(bad) > 0 {
		fmt.Println(strings.Join(bad, "\n"))
		return 1
	}
	fmt.Println("ok")
	return 0
}

// TestMainThreadSpawnsSurviveThreadChurn: a spawn from a goroutine that
// is on the main thread but not pinned (OwnerOptions.PinCaller) still goes
// to the spawner thread, so that an exec, which keeps one thread, finds
// every child on it; the children outlive Go threads that end.
func TestMainThreadSpawnsSurviveThreadChurn(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainThreadHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

// TestPinnedCallerSpawnsSurviveThreadChurn: with PinCaller, the first
// spawn locks the calling goroutine to its thread, and its spawns fork
// there; the children outlive every Go thread that ends meanwhile.
func TestPinnedCallerSpawnsSurviveThreadChurn(t *testing.T) {
	leakcheck.Check(t)
	// The pinned goroutine stands for the program's main goroutine: it
	// lives until its owner has closed.
	inPinnedOwner(t, func(o *proc.Owner, fail func(string)) {
		for _, b := range spawnAndChurn(o, 6, true) {
			fail(b)
		}
		// An isolated child whose namespaces are all new (made in the
		// child) forks on the pinned thread too; one that joins another
		// process's net namespace goes to the spawner thread, which
		// enters and leaves it.
		tid := unix.Gettid()
		iso, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "600"}, Isolate: &ns.Spec{New: []string{"net", "pid", "uts"}}})
		if err != nil {
			fail(err.Error())
			return
		}
		if !slices.Contains(threadChildren(tid), iso.Pid) || proc.Handoffs(o) != 0 {
			fail(fmt.Sprintf("isolated child %d was not forked on the pinned thread (%d hand-offs)", iso.Pid, proc.Handoffs(o)))
		}
		netns, err := fdio.OpenFile(fmt.Sprintf("/proc/%d/ns/net", iso.Pid), unix.O_RDONLY, 0)
		if err != nil {
			fail(err.Error())
			return
		}
		defer netns.Close()
		joined, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "600"}, Isolate: &ns.Spec{Join: map[string]*fdio.FD{"net": netns}}})
		if err != nil {
			fail(err.Error())
			return
		}
		if slices.Contains(threadChildren(tid), joined.Pid) || proc.Handoffs(o) != 1 {
			fail(fmt.Sprintf("joining child %d was forked on the pinned thread (%d hand-offs)", joined.Pid, proc.Handoffs(o)))
		}
		for _, p := range []*proc.Proc{iso, joined} {
			if run, err := p.Running(); !run {
				fail(fmt.Sprintf("isolated child %d ended (%v)", p.Pid, err))
			}
		}
	})
}

// TestSpawnErrorsNameTheField: the names in spawn's argument errors are
// formatted only on the error path now; they must still say which entry.
func TestSpawnErrorsNameTheField(t *testing.T) {
	leakcheck.Check(t)
	r, w, err := fdio.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	for _, c := range []struct {
		name string
		a    proc.Attr
		want string
	}{
		{"closed", proc.Attr{Argv: []string{"true"}, Fds: map[int]*fdio.FD{4: w, 7: r}}, "fds[7] is a closed handle"},
		{"negative", proc.Attr{Argv: []string{"true"}, Fds: map[int]*fdio.FD{-2: w}}, "fds[-2]: child descriptor numbers go from 0"},
		{"duplicate", proc.Attr{Argv: []string{"true"}, Fds: map[int]*fdio.FD{3: w}, NotifyFd: 3}, "notify_fd (fd 3): descriptor 3 is already given"},
		{"env NUL", proc.Attr{Argv: []string{"true"}, Env: []string{"A=1", "B=x\x00y"}}, `env entry "B=x" contains a NUL byte`},
		{"env_add NUL", proc.Attr{Argv: []string{"true"}, EnvAdd: []string{"C=\x00"}}, `env entry "C=" contains a NUL byte`},
	} {
		_, err := owner.Spawn(c.a)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// TestPinnedOwnerFirstSpawnFromAnotherGoroutine: with PinCaller, only the
// goroutine that made the owner is pinned. A first spawn from another
// goroutine, which then exits (ending its thread if it had been locked),
// goes to the spawner thread, and its child lives on.
func TestPinnedOwnerFirstSpawnFromAnotherGoroutine(t *testing.T) {
	leakcheck.Check(t)
	inPinnedOwner(t, func(o *proc.Owner, fail func(string)) {
		var other *proc.Proc
		var oerr error
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			other, oerr = o.Spawn(proc.Attr{Argv: []string{"sleep", "600"}})
		}()
		<-exited
		if oerr != nil {
			fail(oerr.Error())
			return
		}
		endThreads(64)
		if h := proc.Handoffs(o); h != 1 {
			fail(fmt.Sprintf("the other goroutine's spawn made %d hand-offs, want 1", h))
		}
		if run, err := other.Running(); !run {
			fail(fmt.Sprintf("the other goroutine's child ended (%v, %v)", other.Status(), err))
		}
		tid := unix.Gettid()
		mine, err := o.Spawn(proc.Attr{Argv: []string{"sleep", "600"}})
		if err != nil {
			fail(err.Error())
			return
		}
		if !slices.Contains(threadChildren(tid), mine.Pid) || proc.Handoffs(o) != 1 {
			fail("the owner's goroutine did not fork on its own thread")
		}
	})
}
