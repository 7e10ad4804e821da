package proc

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// TryWait reaps the child if it has exited, or returns EAGAIN.
func (p *Proc) TryWait() (*Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != nil {
		return p.status, nil
	}
	n, err := p.Pidfd.Num()
	if err != nil {
		return nil, err
	}
	var info unix.Siginfo
	// The address is named only on error: no formatting per wait.
	if err := sys.WaitidPidfd(n, &info, unix.WEXITED|unix.WNOHANG, ""); err != nil {
		var se *sys.Error
		if errors.As(err, &se) {
			se.Addr = p.addr()
		}
		return nil, err
	}
	pid, code, st := sys.SiginfoChild(&info)
	if pid == 0 {
		return nil, fdio.ErrAgain
	}
	s := &Status{}
	switch code {
	case cldExited:
		s.Exited, s.Code = true, st
	case cldDumped:
		s.Signal, s.Core = unix.Signal(st), true
	default:
		s.Signal = unix.Signal(st)
	}
	p.status = s
	p.Pidfd.Close()
	if o := p.owner; o != nil {
		o.forget(p)
		// A child's exit is when its own children become our orphans:
		// they are looked for by the next spawn (lookForOrphans), not
		// between this wait and the caller's next step; the Reaper's tick
		// (100 ms) finds them when no spawn comes.
		if o.reaper != nil {
			o.exitSeen.Store(true)
		}
	}
	if p.ready != nil {
		// Keep what the child said before it went; the channel itself
		// has no use once the process is gone.
		p.ready.drain()
		p.ready.close()
	}
	return s, nil
}

// Wait blocks until the child exits (for Go callers without a loop).
func (p *Proc) Wait(timeout time.Duration) (*Status, error) {
	if s := p.Status(); s != nil {
		return s, nil
	}
	var st *Status
	err := fdio.Block(p.Pidfd, unix.POLLIN, timeout, "wait", func() error {
		var err error
		st, err = p.TryWait()
		return err
	})
	if st != nil {
		return st, nil
	}
	if s := p.Status(); s != nil {
		return s, nil // reaped by a concurrent waiter
	}
	return nil, err
}

// Status returns how the child ended, or nil while it runs (unreaped).
func (p *Proc) Status() *Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Running reports whether the child has not ended, reaping it if it has.
func (p *Proc) Running() (bool, error) {
	if p.Status() != nil {
		return false, nil
	}
	_, err := p.TryWait()
	if fdio.IsAgain(err) {
		return true, nil
	}
	return false, err
}

// Kill sends sig through the pidfd, which cannot hit a recycled pid.
func (p *Proc) Kill(sig unix.Signal) error {
	if p.Status() != nil {
		return sys.Errorf("kill", p.addr(), unix.ESRCH, "the process has already exited and been reaped")
	}
	n, err := p.Pidfd.Num()
	if err != nil {
		return err
	}
	return sys.PidfdSendSignal(n, sig, p.addr())
}

func (p *Proc) addr() string { return fmt.Sprintf("pid %d", p.Pid) }

// SignalByName maps "TERM", "SIGTERM" or "term" to a signal (see
// sys.SignalByName, the one table of names).
func SignalByName(s string) (unix.Signal, error) { return sys.SignalByName(s) }

// si_code values of SIGCHLD (x/sys/unix does not export them).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// orphanLookEvery bounds how often spawns look for the orphans of reaped
// children; what a skipped look would have reaped, a later spawn's look,
// the Reaper's tick (100 ms) or teardown reaps.
const orphanLookEvery = 10 * time.Millisecond

// lookForOrphans reaps the exited orphans of children reaped since the
// last look, at most once per orphanLookEvery: a spawn-and-wait loop makes
// no waitid per child to find that there are none. It runs before the
// fork: the new child, once it has exited, would be the first exited child
// waitid names on the forking thread and hide the orphans (which are the
// main thread's) behind it.
func (o *Owner) lookForOrphans() {
	if !o.exitSeen.Load() {
		return
	}
	if now := time.Now().UnixNano(); now-o.lastLook.Load() >= int64(orphanLookEvery) {
		o.lastLook.Store(now)
		o.exitSeen.Store(false)
		o.reaper.ReapAfterExit()
	}
}
