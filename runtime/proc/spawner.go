package proc

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
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
	// pin is OwnerOptions.PinCaller, pinG the goroutine that made the
	// owner, pinned the thread its first spawn locked.
	pin    bool
	pinG   int64
	pinned atomic.Int64
	// handoffs counts the requests served here (tests).
	handoffs atomic.Int64
	// tainted is set (on the spawner thread) when the thread is left in
	// namespaces it could not leave: it then hands the work to a new
	// thread and waits, locked, for the owner to close.
	tainted bool
}

// One other thread is as good, and costs no hand-off (two thread
// switches, as much as a third of what fdwire added to a spawn): with
// OwnerOptions.PinCaller, the thread of the goroutine that made the owner
// (the program's main goroutine), locked by its first spawn for good, so
// that it ends only when main returns, that is with the process. A spawn
// from any other goroutine goes to the spawner thread: a goroutine that
// locked its thread and exited would end it and its children with it.
// (The main thread, which Go never ends either, is not used for callers
// that merely happen to run on it: their children and the spawner's
// would be split over two threads, and exec keeps one.)

// forkHere runs fn and reports true when the calling goroutine is the
// pinned one (pinning it at its first spawn); elsewhere it reports false
// without running fn. The goroutine is locked for fn's duration (locks
// nest: the pin stays).
func (o *Owner) forkHere(fn func()) bool {
	s := &o.spawner
	if !s.pin {
		return false
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := int64(unix.Gettid())
	switch p := s.pinned.Load(); {
	case p == tid:
	case p != 0 || goroutineID() != s.pinG:
		return false
	case s.pinned.CompareAndSwap(0, tid):
		runtime.LockOSThread() // the pin: never undone
	default:
		return false
	}
	fn()
	return true
}

// goroutineID is the calling goroutine's number, read from its stack
// header ("goroutine 1 [running]:"); Go has no other way to name it. It
// is read when an owner is made and until its goroutine's first spawn.
func goroutineID() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// execKeepsChildren refuses an exec that would end children: execve
// keeps only the calling thread, and the death signal of the children
// the other threads forked fires when those end. Children forked on both
// the spawner thread and the pinned one cannot all be kept.
func (o *Owner) execKeepsChildren(prog string) error {
	spawner, pinned := 0, 0
	for _, p := range o.Children() {
		switch {
		case p.Detach:
		case p.onSpawner:
			spawner++
		default:
			pinned++
		}
	}
	if spawner > 0 && pinned > 0 {
		return sys.Errorf("exec", prog, unix.EBUSY, "%d running children were started on the runtime's spawner thread (they join another process's namespaces) and %d on this one; execve keeps only one thread, and the children of the other would get their death signal (PR_SET_PDEATHSIG): wait for one group first, or start it with detach = true", spawner, pinned)
	}
	return nil
}

// onlySpawnerChildren reports whether every running child with a death
// signal was forked on the spawner thread, and there is one at least.
func (o *Owner) onlySpawnerChildren() bool {
	n := 0
	for _, p := range o.Children() {
		if p.Detach {
			continue
		}
		if !p.onSpawner {
			return false
		}
		n++
	}
	return n > 0
}

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
