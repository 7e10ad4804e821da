package proc

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// The subreaper. A program that double-forks (a daemon, or `sh -c 'x &'`)
// leaves its grandchild to be re-parented to init, out of fdwire's sight.
// With PR_SET_CHILD_SUBREAPER such orphans come to this process instead;
// a SIGCHLD handler reaps the ones that exit and TerminateAll ends the
// ones still running. Reaping "every child this package did not start"
// would also take children started with os/exec, so it is opt-in: the
// CLI turns it on; a Go program embedding the runtime decides itself.

var (
	subreaper atomic.Bool
	// reapMu is held for reading from a child's clone to its registration
	// and for writing while orphans are reaped, so that a just-started
	// child is never mistaken for an orphan.
	reapMu   sync.RWMutex
	reapOnce sync.Once
)

// reapEvery bounds how often the SIGCHLD handler scans for orphans.
const reapEvery = 50 * time.Millisecond

// EnableSubreaper makes this process a child subreaper and starts reaping
// orphans as they exit.
func EnableSubreaper() error {
	if err := sys.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER"); err != nil {
		return err
	}
	subreaper.Store(true)
	reapOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, unix.SIGCHLD)
		go func() {
			// Every child's exit raises SIGCHLD, and a scan reads a
			// /proc file per thread: coalesce the signals into at most
			// one scan per reapEvery, so spawning many short-lived
			// children does not pay a scan each. An orphan's zombie
			// lingers that long at most.
			for range ch {
				ReapOrphans()
				time.Sleep(reapEvery)
			}
		}()
	})
	return nil
}

// Subreaper reports whether EnableSubreaper is in force.
func Subreaper() bool { return subreaper.Load() }

// ReapOrphans reaps every exited child this package did not start and
// returns how many it reaped.
func ReapOrphans() int {
	reapMu.Lock()
	defer reapMu.Unlock()
	n := 0
	for _, c := range childPids() {
		if c.known || c.state != 'Z' {
			continue
		}
		if sys.Reap(c.pid) == nil {
			n++
		}
	}
	return n
}

type childPid struct {
	pid   int
	state byte
	known bool
}

// childPids lists this process's children (every thread's), marking the
// ones Spawn started.
func childPids() []childPid {
	var out []childPid
	tasks, _ := os.ReadDir("/proc/self/task")
	children.Lock()
	defer children.Unlock()
	for _, tk := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + tk.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			c := childPid{pid: pid, known: children.pids[pid]}
			if !c.known {
				c.state = procState(pid) // ours are waited for by their pidfd
			}
			out = append(out, c)
		}
	}
	return out
}

// procState is the state letter of /proc/PID/stat ('R', 'S', 'Z', ...).
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || len(s) < i+3 {
		return 0
	}
	return s[i+2]
}

// liveOrphans lists adopted orphans still running (subreaper only).
func liveOrphans() []int {
	if !subreaper.Load() {
		return nil
	}
	var out []int
	for _, c := range childPids() {
		if !c.known && c.state != 'Z' && c.state != 0 {
			out = append(out, c.pid)
		}
	}
	return out
}

// endOrphans waits for the orphans sent SIGTERM until deadline, then
// kills the rest, reaping all of them.
func endOrphans(pids []int, deadline time.Time) {
	if len(pids) == 0 {
		ReapOrphans()
		return
	}
	for {
		ReapOrphans()
		alive := 0
		for _, pid := range pids {
			if s := procState(pid); s != 0 && s != 'Z' {
				alive++
			}
		}
		if alive == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, pid := range pids {
		if s := procState(pid); s != 0 && s != 'Z' {
			sys.Kill(pid, unix.SIGKILL)
		}
	}
	for i := 0; i < 200; i++ {
		ReapOrphans()
		left := 0
		for _, pid := range pids {
			if procState(pid) != 0 {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
