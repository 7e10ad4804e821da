package proc

import (
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The spawner thread. PR_SET_PDEATHSIG does not fire when the parent
// process ends but when the parent *thread* does: the thread that forked
// the child. Go moves goroutines between threads and ends a thread when a
// goroutine that locked it exits, so a child forked from an arbitrary
// goroutine could be killed while this process is still running, just
// because the thread it happened to be forked from went away. Each owner
// therefore forks (and execs, see exec.go) from one goroutine locked to
// its own thread for the owner's whole life: the death signal then means
// "the owner's process ended", which is what we want it to mean. The
// thread is started at the first spawn; it is given back (unlocked, not
// ended) when the owner closes, after every child it forked is gone.
// Callers already on a thread that lives as long as the process fork
// where they are (forkHere, below).

type spawner struct {
	mu   sync.Mutex // held across each request, so stop never races one
	reqs chan func()
	quit chan struct{}
	done bool
	// pin is OwnerOptions.PinCaller; pinned is the thread it locked.
	pin    bool
	pinned atomic.Int64
	// handoffs counts the requests served here (tests).
	handoffs atomic.Int64
	// tainted is set (on the spawner thread) when the thread is left in
	// namespaces it could not leave: it then hands the work to a new
	// thread and waits, locked, for the owner to close.
	tainted bool
}

// Two other threads are as good, and cost no hand-off (two thread
// switches, as much as a third of what fdwire adds to a spawn): the main
// thread, which Go never ends (a goroutine that exits locked to it wedges
// it instead, see runtime.mexit), and, with OwnerOptions.PinCaller, the
// thread the program's main goroutine locked at its first spawn, which
// ends only when main returns, that is with the process.

// forkHere runs fn and reports true when the calling goroutine is on one
// of those threads; elsewhere it reports false without running fn. The
// goroutine is locked for fn's duration, so it cannot move between the
// check and the fork (locks nest: one taken before stays).
func (o *Owner) forkHere(fn func()) bool {
	s := &o.spawner
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := int64(unix.Gettid())
	if s.pin && s.pinned.CompareAndSwap(0, tid) {
		runtime.LockOSThread() // the pin: never undone
	}
	if tid != mainTid && tid != s.pinned.Load() {
		return false
	}
	fn()
	return true
}

// mainTid is the main thread's id, which is the process id.
var mainTid = int64(unix.Getpid())

// onSpawner runs fn on the owner's spawner thread and waits for it; it
// reports false, without running fn, once the owner has closed.
func (o *Owner) onSpawner(fn func()) bool {
	s := &o.spawner
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	if s.reqs == nil {
		s.reqs, s.quit = make(chan func()), make(chan struct{})
		go s.serve()
	}
	s.handoffs.Add(1)
	done := make(chan struct{})
	s.reqs <- func() { fn(); close(done) }
	<-done
	return true
}

func (s *spawner) serve() {
	runtime.LockOSThread()
	for fn := range s.reqs {
		fn()
		if s.tainted {
			s.tainted = false
			go s.serve()
			// Ending this thread would fire the death signal of every
			// child forked on it: keep it until the owner has ended them.
			<-s.quit
			return
		}
	}
	// Unlocked, the thread goes back to Go's pool instead of being ended:
	// nothing it forked is left with a death signal.
	runtime.UnlockOSThread()
}

// taint marks the current spawner thread unusable (see serve).
func (s *spawner) taint() { s.tainted = true }

// stop ends the spawner goroutines (Close has ended every child by then).
func (s *spawner) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done && s.reqs != nil {
		close(s.reqs)
		close(s.quit)
	}
	s.done = true
}
