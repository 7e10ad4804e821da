package proc

import (
	"fmt"
	"sort"
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
	if err := sys.WaitidPidfd(n, &info, unix.WEXITED|unix.WNOHANG, p.addr()); err != nil {
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
	children.Lock()
	delete(children.live, p)
	delete(children.pids, p.Pid)
	children.Unlock()
	p.Pidfd.Close()
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

// Children lists started children that have not been reaped.
func Children() []*Proc {
	children.Lock()
	defer children.Unlock()
	out := make([]*Proc, 0, len(children.live))
	for p := range children.live {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}

// TerminateAll ends every child not started detached: SIGTERM, up to
// grace for them to exit, then SIGKILL; each is reaped so no zombie stays.
// With the subreaper on, adopted orphans (grandchildren whose parent died)
// are ended the same way.
func TerminateAll(grace time.Duration) {
	var procs []*Proc
	for _, p := range Children() {
		if p.Detach {
			children.Lock()
			delete(children.live, p)
			delete(children.pids, p.Pid)
			children.Unlock()
			p.Pidfd.Close()
			p.closeEnds()
			continue
		}
		procs = append(procs, p)
	}
	orphans := liveOrphans()
	for _, p := range procs {
		p.Kill(unix.SIGTERM)
	}
	for _, pid := range orphans {
		sys.Kill(pid, unix.SIGTERM)
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
	}
	endOrphans(orphans, deadline)
	// A child killed above hands its own children to us (we are their
	// subreaper): end those too, round by round, each with its grace.
	for round := 0; round < 8; round++ {
		more := liveOrphans()
		if len(more) == 0 {
			break
		}
		for _, pid := range more {
			sys.Kill(pid, unix.SIGTERM)
		}
		endOrphans(more, time.Now().Add(grace))
	}
}

// SignalByName maps "TERM", "SIGTERM" or "term" to a signal (see
// sys.SignalByName, the one table of names).
func SignalByName(s string) (unix.Signal, error) { return sys.SignalByName(s) }

// si_code values of SIGCHLD (x/sys/unix does not export them).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)
