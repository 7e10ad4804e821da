package proc

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/reap"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Owner holds the children one runtime started: it starts them (Spawn),
// replaces the process (Exec), lists them, and ends them when it closes.
// Two owners in one process never see or end each other's children.
type Owner struct {
	reaper *reap.Reaper // nil: orphans are not this process's business
	warden *reap.Warden // nil: nobody cleans up after a SIGKILL

	// useGroup puts children in the owner's children cgroup (cgroup.go).
	useGroup bool
	groupMu  sync.Mutex
	group    childGroup

	mu     sync.Mutex
	live   map[*Proc]struct{}
	pids   map[int]bool
	closed bool

	// exitSeen: a child was reaped since the last look for orphans
	// (TryWait sets it, start looks; see there).
	exitSeen atomic.Bool
	lastLook atomic.Int64 // when a spawn last looked (unix ns)

	spawner  spawner
	markOnce sync.Once
	markErr  error
	// reserve holds descriptors that teardown gives back first, so that it
	// can read /proc and open pidfds with the table full (issue 13).
	reserve []int

	// failAt, set only by tests, makes the named step of a spawn fail.
	failAt string
	// afterFork, set only by tests, runs between a child's fork and its
	// registration (where a concurrent Close can fall).
	afterFork func(pid int)
}

// OwnerOptions configure NewOwner.
type OwnerOptions struct {
	// Reaper, when set, is this process's child subreaper: the owner tells
	// it which children are its own and, when it closes last, the orphans
	// left are ended with the children.
	Reaper *reap.Reaper
	// PinCaller says that the goroutine calling NewOwner is the program's
	// main goroutine, which may stay locked to its thread for good: its
	// first spawn locks it there (runtime.LockOSThread, never undone) and
	// its spawns then fork right where they are, on a thread that ends
	// only with the process, instead of going to the spawner thread and
	// back (spawner.go). Spawns from other goroutines still go there. The
	// fdwire command sets it.
	PinCaller bool
	// Cgroup puts every child that is not detached and has no Attr.Cgroup
	// into a cgroup v2 group of the owner's, made at the first such spawn
	// and ended (cgroup.kill, then removed) when the owner closes, so that
	// nothing a child leaves behind outlives it (cgroup.go). Where no group
	// can be made, children start in this process's cgroup.
	Cgroup bool
	// Warden, when set, is told about the children cgroup, so that it is
	// ended even when this process dies without closing the owner.
	Warden *reap.Warden
}

// reserveFds is how many descriptors an owner keeps for its teardown.
const reserveFds = 2

// NewOwner makes an owner with no children.
func NewOwner(o OwnerOptions) (*Owner, error) {
	ow := &Owner{reaper: o.Reaper, warden: o.Warden, useGroup: o.Cgroup, live: map[*Proc]struct{}{}, pids: map[int]bool{}}
	ow.spawner.pin = o.PinCaller
	if o.PinCaller {
		ow.spawner.pinG = goroutineID()
	}
	for i := 0; i < reserveFds; i++ {
		n, err := sys.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			// A sealed fdwire (a root without /dev) reserves eventfds.
			n, err = sys.Eventfd(0, 0)
		}
		if err != nil {
			ow.freeReserve()
			return nil, err
		}
		ow.reserve = append(ow.reserve, n)
	}
	if ow.reaper != nil {
		ow.reaper.Attach(ow)
	}
	return ow, nil
}

func (o *Owner) freeReserve() {
	for _, n := range o.reserve {
		sys.Close(n)
	}
	o.reserve = nil
}

// usable refuses work once the owner is closed.
func (o *Owner) usable(op, addr string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return sys.Errorf(op, addr, unix.EBADF, "the runtime that owns children is closed")
	}
	return nil
}

func (o *Owner) inject(step string) error {
	if o.failAt == step {
		return sys.Errorf("spawn", "", unix.EIO, "injected failure at %s", step)
	}
	return nil
}

// add records a started child, or reports false when Close has begun:
// Close lists the children once, so one registered after that would be
// ended by nobody.
func (o *Owner) add(p *Proc) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.live[p] = struct{}{}
	o.pids[p.Pid] = true
	return true
}

func (o *Owner) forget(p *Proc) {
	o.mu.Lock()
	delete(o.live, p)
	delete(o.pids, p.Pid)
	o.mu.Unlock()
}

// Knows reports whether pid is a child this owner started and has not
// yet reaped (for the Reaper: such a child is never an orphan).
func (o *Owner) Knows(pid int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pids[pid]
}

// Children lists the started children that have not been reaped, by pid.
func (o *Owner) Children() []*Proc {
	o.mu.Lock()
	out := make([]*Proc, 0, len(o.live))
	for p := range o.live {
		out = append(out, p)
	}
	o.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}

// Close ends the owner's children: detached ones are let go (their
// pidfds closed, nothing sent); every other one gets SIGTERM, up to grace
// to exit, then SIGKILL, and is reaped. With a Reaper, the orphans these
// children leave as they die are ended the same way; when this is the
// last owner, so is every other orphan still running (nobody else can
// claim them). Whatever is still in the owner's children cgroup is then
// killed and the group removed. Close works with the descriptor table full: it first gives
// back the owner's reserve, and uses neither os.Open nor Go's poller.
func (o *Owner) Close(grace time.Duration) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.mu.Unlock()
	o.freeReserve()
	var procs []*Proc
	for _, p := range o.Children() {
		if p.Detach {
			o.forget(p)
			p.Pidfd.Close()
			p.closeEnds()
			continue
		}
		procs = append(procs, p)
	}
	// What our children have below them becomes our orphans as they die:
	// those are ours to end too.
	mine := map[int]bool{}
	if o.reaper != nil {
		for _, p := range procs {
			for _, d := range reap.Descendants(p.Pid) {
				mine[d] = true
			}
		}
	}
	for _, p := range procs {
		p.Kill(unix.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, p := range procs {
		left := time.Until(deadline)
		if left <= 0 {
			left = time.Millisecond
		}
		if _, err := p.Wait(left); err != nil {
			p.Kill(unix.SIGKILL)
			p.Wait(0)
		}
		p.closeEnds()
	}
	if o.reaper != nil {
		last := o.reaper.Detach(o)
		var orphans []int
		keep := func(pid int) bool { return last || mine[pid] }
		for _, pid := range o.reaper.LiveOrphans() {
			if keep(pid) {
				orphans = append(orphans, pid)
			}
		}
		o.reaper.End(orphans, grace, keep)
	}
	o.spawner.stop()
	// Last, what is still in the children group (a grandchild that was no
	// orphan of ours, with no Reaper or its parent still alive): after the
	// spawner, so no spawn is using the group's descriptor.
	o.endGroup()
}
