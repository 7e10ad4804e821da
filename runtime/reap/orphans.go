package reap

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Orphans. A program that double-forks (a daemon, or `sh -c 'x &'`) leaves
// its grandchild to be re-parented to the nearest child subreaper, or to
// init. A Reaper makes this process that subreaper, reaps such orphans as
// they exit, and ends the ones still running when the last owner closes.
//
// Being a subreaper is a property of the process, so a Reaper is made
// once, by the program (the fdwire CLI does; a Go program embedding the
// runtime decides itself, since reaping "every child nobody claims" would
// also take children started with os/exec), and handed to each proc.Owner.
// The owners say which pids are theirs (they wait for those by pidfd);
// everything else that is our child is an orphan.

// Knower is an owner of children: Knows reports whether pid is one of the
// children it started and will wait for itself.
type Knower interface{ Knows(pid int) bool }

// Reaper is this process acting as child subreaper.
type Reaper struct {
	// gate is held for reading by a spawn from its clone to the child's
	// registration with its owner, and for writing while orphans are
	// reaped, so a just-started child is never taken for an orphan.
	gate   sync.RWMutex
	mu     sync.Mutex
	owners []Knower
	// spared are the sessions of detached children: their members are
	// left alone however they come to be our children.
	spared map[int]bool
	armed  bool
	done   chan struct{}
	// tickClaimed: the last tick found an exited child that an owner
	// claims and has not reaped yet (under gate; see reapTick).
	tickClaimed bool
}

// reapEvery is how often an armed Reaper collects exited orphans between
// the moments its owners give it (a spawn, a child's exit, teardown).
const reapEvery = 100 * time.Millisecond

// NewReaper makes a Reaper. Nothing happens until an owner's first spawn
// arms it: a run that starts no child pays nothing for it.
func NewReaper() *Reaper {
	return &Reaper{spared: map[int]bool{}}
}

// Arm makes this process a child subreaper (once) and starts collecting
// exited orphans every reapEvery. Owners call it before their first spawn:
// orphans can only come from children.
func (r *Reaper) Arm() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.armed {
		return nil
	}
	if err := startGoPoller(); err != nil {
		return err
	}
	if err := SetSubreaper(); err != nil {
		return err
	}
	r.armed = true
	done := make(chan struct{})
	r.done = done
	go func() {
		// No SIGCHLD handler: owners call ReapZombies when one of their
		// children exits, which is when orphans usually appear; the
		// ticker catches the ones whose parent was not ours to wait for.
		t := time.NewTicker(reapEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.reapTick()
			case <-done:
				return
			}
		}
	}()
	return nil
}

// Armed reports whether this process is acting as subreaper.
func (r *Reaper) Armed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.armed
}

// Attach registers an owner; Detach forgets it.
func (r *Reaper) Attach(k Knower) {
	r.mu.Lock()
	r.owners = append(r.owners, k)
	r.mu.Unlock()
}

// Detach forgets an owner and reports whether it was the last one.
func (r *Reaper) Detach(k Knower) (last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.owners, k); i >= 0 {
		r.owners = slices.Delete(r.owners, i, i+1)
	}
	return len(r.owners) == 0
}

// Hold is taken by a spawn across its clone and the child's registration;
// the returned function releases it.
func (r *Reaper) Hold() func() {
	r.gate.RLock()
	return r.gate.RUnlock
}

// Spare leaves the session sid (a detached child's) alone for good.
func (r *Reaper) Spare(sid int) {
	r.mu.Lock()
	r.spared[sid] = true
	r.mu.Unlock()
}

func (r *Reaper) known(pid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.owners {
		if k.Knows(pid) {
			return true
		}
	}
	return false
}

func (r *Reaper) isSpared(st Stat) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spared[st.Session]
}

// ReapZombies reaps every exited child no owner claims and returns how
// many. The common case costs one waitid: it names the first exited
// child without reaping it, and only when an owner claims that one (its
// waiter has not come yet) are the children listed from /proc.
func (r *Reaper) ReapZombies() int { return r.reap(reapFull) }

// ReapAfterExit is ReapZombies for an owner whose children have exited,
// when their orphans appear: the same waitids, reaping unclaimed exited
// children up to the first claimed one, but no /proc listing behind that
// one, which is nearly always a child whose waiter is on its way (under
// load, even the child a spawn has just started). Orphans behind a
// claimed child that stays unreaped are found by the tick (reapTick), the
// next look, or teardown. (Listing per exit made a teardown of N children
// list N children N times; throttled, it still listed every 10 ms in a
// spawn loop, to find nothing.)
func (r *Reaper) ReapAfterExit() int { return r.reap(reapHead) }

// reapTick is the tick's ReapZombies. An exited child that an owner claims
// is nearly always one whose waiter is on its way (a spawn-and-wait loop's
// child, caught between its exit and its wait): listing /proc behind it,
// with the gate held against every spawn, would find nothing and delay
// the next spawn. The tick lists only when the tick before it also found
// a claimed exited child (the same one or another, which waitid names
// first depends on the thread that asks): one that stays unreaped, whose
// owner is not waiting for it, and orphans may be waiting behind it. (Two
// ticks in a row that each catch a spawn loop's child in its instant
// between exit and wait are rare.)
func (r *Reaper) reapTick() int { return r.reap(reapTick) }

const (
	reapFull = iota // ReapZombies: list /proc behind a claimed child
	reapHead        // ReapAfterExit: never list
	reapTick        // the tick: list behind a claimed child seen twice
)

func (r *Reaper) reap(mode int) int {
	if !r.Armed() {
		return 0
	}
	r.gate.Lock()
	defer r.gate.Unlock()
	n := 0
	for {
		pid, err := sys.WaitidAnyNowait()
		if err != nil || pid == 0 {
			if mode == reapTick {
				r.tickClaimed = false
			}
			return n // ECHILD: no children at all; 0: none has exited
		}
		if r.known(pid) {
			break
		}
		if sys.Reap(pid) != nil {
			return n
		}
		n++
	}
	switch mode {
	case reapHead:
		return n
	case reapTick:
		again := r.tickClaimed
		r.tickClaimed = true
		if !again {
			return n
		}
	}
	for _, pid := range Children() {
		if r.known(pid) {
			continue
		}
		if ReapIfOrphan(pid) {
			n++
		}
	}
	return n
}

// LiveOrphans lists the running children no owner claims, except members
// of spared sessions.
func (r *Reaper) LiveOrphans() []int {
	if !r.Armed() {
		return nil
	}
	var out []int
	for _, pid := range Children() {
		if r.known(pid) {
			continue
		}
		if st, ok := ReadStat(pid); ok && st.State != "Z" && !r.isSpared(st) {
			out = append(out, pid)
		}
	}
	return out
}

// End sends SIGTERM to pids, gives them until grace is over, sends SIGKILL
// to the rest, and reaps them all. Processes that pids leave behind as
// they die become our orphans too: within keep (nil: any), they are ended
// the same way, round by round.
func (r *Reaper) End(pids []int, grace time.Duration, keep func(pid int) bool) {
	for round := 0; round < 8 && len(pids) > 0; round++ {
		for _, pid := range pids {
			Signal(pid, unix.SIGTERM)
		}
		r.wait(pids, time.Now().Add(grace))
		for _, pid := range pids {
			if alive(pid) {
				Signal(pid, unix.SIGKILL)
			}
		}
		// SIGKILL cannot be ignored: wait for the zombies and reap them.
		for i := 0; i < 400; i++ {
			r.ReapZombies()
			if !anyExists(pids) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		pids = pids[:0:0]
		for _, pid := range r.LiveOrphans() {
			if keep == nil || keep(pid) {
				pids = append(pids, pid)
			}
		}
	}
}

// wait reaps until every pid has exited or the deadline passes.
func (r *Reaper) wait(pids []int, deadline time.Time) {
	for {
		r.ReapZombies()
		n := 0
		for _, pid := range pids {
			if alive(pid) {
				n++
			}
		}
		if n == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close ends every orphan still running (all owners are gone, so nobody
// else can claim them), stops reaping and gives up the subreaper role.
// Members of spared sessions are left running.
func (r *Reaper) Close(grace time.Duration) {
	if !r.Armed() {
		return
	}
	r.End(r.LiveOrphans(), grace, nil)
	r.ReapZombies()
	r.mu.Lock()
	r.armed = false
	close(r.done)
	r.mu.Unlock()
	sys.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, "PR_SET_CHILD_SUBREAPER")
}

// alive reports whether pid exists and has not exited.
func alive(pid int) bool {
	st, ok := ReadStat(pid)
	return ok && st.State != "Z"
}

func anyExists(pids []int) bool {
	for _, pid := range pids {
		if _, ok := ReadStat(pid); ok {
			return true
		}
	}
	return false
}

// Children lists this process's children (of every thread), with raw
// syscalls so that it works with the descriptor table full.
func Children() []int {
	tasks, _ := sys.ReadDirNames("/proc/self/task")
	var out []int
	for _, tk := range tasks {
		out = appendPids(out, "/proc/self/task/"+tk+"/children")
	}
	return out
}

// Descendants lists every process below pid (children of all its threads,
// their children, ...), as seen at the moment of the call.
func Descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := sys.ReadDirNames("/proc/" + strconv.Itoa(p) + "/task")
		for _, tk := range tasks {
			kids := appendPids(nil, "/proc/"+strconv.Itoa(p)+"/task/"+tk+"/children")
			out = append(out, kids...)
			queue = append(queue, kids...)
		}
	}
	return out
}

func appendPids(out []int, path string) []int {
	b, err := sys.ReadFile(path)
	if err != nil {
		return out
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// startGoPoller makes sure Go's poller exists before the ticker below
// (Go's first timer) would make it: it takes two descriptors (an epoll
// and an eventfd), and with none free Go aborts the program
// ("netpollinit failed"), as when a script fills its table and then
// spawns for the first time. So: EMFILE now, or room for it, used at once.
func startGoPoller() error {
	var held [3]int
	for i := range held {
		n, err := sys.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			for _, m := range held[:i] {
				sys.Close(m)
			}
			return err
		}
		held[i] = n
	}
	sys.Close(held[1])
	sys.Close(held[2])
	// A non-blocking descriptor wrapped in an os.File is polled: this
	// makes the poller (if it is not there yet) in the two free slots.
	return os.NewFile(uintptr(held[0]), "eventfd").Close()
}
