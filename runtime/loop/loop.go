// Package loop is a single-goroutine readiness loop over poll(2): one-shot
// watches on descriptors (sockets, pipes, pidfds) with optional deadlines,
// timers, and callbacks posted from other goroutines, which wake the poll
// through an eventfd. poll is stateless, so a watched descriptor that is
// closed or shared with another process never confuses the loop the way a
// stale epoll registration can.
package loop

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Loop dispatches readiness, deadlines and posted callbacks. All methods
// except Post and Wake must be called from the loop's own goroutine.
type Loop struct {
	wake    *fdio.FD
	mu      sync.Mutex
	posted  []func()
	watches []*Watch
	pfds    []unix.PollFd
	polled  []*Watch
	// slot maps a descriptor to its entry in pfds for this round: many
	// watches on one descriptor share one entry, so the poll set never
	// holds more entries than there are open descriptors (poll(2) refuses
	// with EINVAL a set larger than RLIMIT_NOFILE).
	slot map[int32]int
}

// Watch is one pending wait; it fires once and is then forgotten.
type Watch struct {
	fd int
	// h, for a watch on a handle, is checked before each poll and before
	// dispatch: once it no longer holds fd (closed, perhaps with the
	// number already reused) the watch fires at once with POLLNVAL, so
	// the waiter meets EBADF instead of waiting on someone else's file.
	h        *fdio.FD
	events   int16
	deadline time.Time
	cb       func(revents int16, timedOut bool)
	done     bool
	slot     int // its entry in the loop's poll set this round, or -1
}

// New makes a loop with its wake-up eventfd.
func New() (*Loop, error) {
	w, err := fdio.Eventfd(0)
	if err != nil {
		return nil, err
	}
	return &Loop{wake: w, slot: map[int32]int{}}, nil
}

// Close releases the wake-up eventfd.
func (l *Loop) Close() error { return l.wake.Close() }

// WatchFD calls cb once when fd reports any of events (or an error/hangup),
// or with timedOut when deadline passes first. A zero deadline never expires.
func (l *Loop) WatchFD(fd int, events int16, deadline time.Time, cb func(revents int16, timedOut bool)) *Watch {
	w := &Watch{fd: fd, events: events, deadline: deadline, cb: cb}
	l.watches = append(l.watches, w)
	return w
}

// WatchHandle is WatchFD on the descriptor h holds now; if h is closed
// before the watch fires, cb is called at the loop's next turn with
// POLLNVAL (the handle's operations then report EBADF).
func (l *Loop) WatchHandle(h *fdio.FD, events int16, deadline time.Time, cb func(revents int16, timedOut bool)) *Watch {
	w := l.WatchFD(h.Raw(), events, deadline, cb)
	w.h = h
	return w
}

// stale reports whether w's handle no longer holds the polled number.
func (w *Watch) stale() bool { return w.h != nil && w.h.Raw() != w.fd }

// Timer calls cb once at deadline.
func (l *Loop) Timer(deadline time.Time, cb func()) *Watch {
	return l.WatchFD(-1, 0, deadline, func(int16, bool) { cb() })
}

// Cancel forgets w without calling it; cancelling a fired watch is a no-op.
func (w *Watch) Cancel() { w.done = true }

// Post queues cb to run on the loop's goroutine and wakes the loop. It is
// safe to call from any goroutine, including signal handlers' goroutines.
func (l *Loop) Post(cb func()) {
	l.mu.Lock()
	l.posted = append(l.posted, cb)
	l.mu.Unlock()
	l.Wake()
}

// Wake interrupts a blocking Run.
func (l *Loop) Wake() {
	n, err := l.wake.Num()
	if err != nil {
		return
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	sys.Write(n, one[:])
}

// Pending counts live watches and queued callbacks.
func (l *Loop) Pending() int {
	l.mu.Lock()
	n := len(l.posted)
	l.mu.Unlock()
	for _, w := range l.watches {
		if !w.done {
			n++
		}
	}
	return n
}

// entryFor returns the poll set's entry for fd, adding one if needed. A
// short set is scanned (the common case: a few watches, no map work);
// past that the map indexes it.
func (l *Loop) entryFor(fd int32) int {
	const scan = 16
	if len(l.pfds) <= scan {
		for i := 1; i < len(l.pfds); i++ {
			if l.pfds[i].Fd == fd {
				return i
			}
		}
		if len(l.pfds) == scan {
			for i := 1; i < len(l.pfds); i++ {
				l.slot[l.pfds[i].Fd] = i
			}
		}
	} else if i, ok := l.slot[fd]; ok {
		return i
	}
	i := len(l.pfds)
	l.pfds = append(l.pfds, unix.PollFd{Fd: fd})
	if i >= scan {
		l.slot[fd] = i
	}
	return i
}

// RunOnce polls once (blocking until something happens when block is set,
// else returning at once) and runs what became due.
func (l *Loop) RunOnce(block bool) error {
	now := time.Now()
	var next time.Time
	live := l.watches[:0]
	l.pfds = l.pfds[:0]
	l.polled = l.polled[:0]
	wn, err := l.wake.Num()
	if err != nil {
		return err
	}
	l.pfds = append(l.pfds, unix.PollFd{Fd: int32(wn), Events: unix.POLLIN})
	stale := false
	for _, w := range l.watches {
		if w.done {
			continue
		}
		live = append(live, w)
		if w.stale() {
			stale = true // fires below without being polled
			continue
		}
		if !w.deadline.IsZero() && (next.IsZero() || w.deadline.Before(next)) {
			next = w.deadline
		}
		w.slot = -1
		if w.fd >= 0 {
			i := l.entryFor(int32(w.fd))
			l.pfds[i].Events |= w.events
			w.slot = i
			l.polled = append(l.polled, w)
		}
	}
	clear(l.slot)
	clear(l.watches[len(live):])
	l.watches = live
	l.mu.Lock()
	haveposted := len(l.posted) > 0
	l.mu.Unlock()

	timeout := -1
	switch {
	case !block || haveposted || stale:
		timeout = 0
	case !next.IsZero():
		d := next.Sub(now)
		if d <= 0 {
			timeout = 0
		} else {
			// poll takes an int of milliseconds (24.8 days at most); a
			// later deadline polls that long and looks again, rather than
			// wrapping to a short or negative wait.
			timeout = int(min((d+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
		}
	}
	if _, err := sys.Poll(l.pfds, timeout); err != nil {
		if sys.ErrnoOf(err) == unix.EINVAL {
			if cur, _, lerr := sys.Getrlimit(unix.RLIMIT_NOFILE); lerr == nil && uint64(len(l.pfds)) > cur {
				return sys.WithHint(err, fmt.Sprintf("waiting on %d descriptors, more than the soft RLIMIT_NOFILE (%d) poll(2) accepts", len(l.pfds), cur))
			}
		}
		return err
	}
	if l.pfds[0].Revents != 0 {
		var buf [8]byte
		sys.Read(wn, buf[:])
	}
	for _, w := range l.watches {
		if !w.done && w.stale() {
			w.done = true
			w.cb(unix.POLLNVAL, false)
		}
	}
	for _, w := range l.polled {
		if w.done {
			continue
		}
		// A shared entry polls the union of its watches' events: each
		// watch sees only what it asked for, plus the conditions poll
		// always reports.
		rev := l.pfds[w.slot].Revents & (w.events | unix.POLLERR | unix.POLLHUP | unix.POLLNVAL)
		if rev == 0 {
			continue
		}
		w.done = true
		w.cb(rev, false)
	}
	now = time.Now()
	for _, w := range l.watches {
		if !w.done && !w.deadline.IsZero() && !now.Before(w.deadline) {
			w.done = true
			w.cb(0, true)
		}
	}
	l.mu.Lock()
	posted := l.posted
	l.posted = nil
	l.mu.Unlock()
	for _, cb := range posted {
		cb()
	}
	return nil
}
