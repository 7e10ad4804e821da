// Package proc starts programs with an exact descriptor map, holds their
// pidfds, and waits for and signals them through those pidfds.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Attr describes a program to start.
type Attr struct {
	Argv []string
	Env  []string // nil: this process's environment
	Dir  string
	// Fds maps child descriptor numbers to handles. The child holds exactly
	// these, at exactly these numbers, plus 0, 1 and 2 inherited from this
	// process unless the map names them (a nil entry closes one).
	Fds map[int]*fdio.FD
	// NoStdio, when set, leaves 0-2 closed unless mapped.
	NoStdio bool
	Setsid  bool
	// Detach keeps the child alive when TerminateAll runs at exit.
	Detach bool
}

// Proc is a started child, held by its pidfd.
type Proc struct {
	Pid   int
	Pidfd *fdio.FD
	Argv  []string
	// Detach is copied from Attr.
	Detach bool

	mu     sync.Mutex
	status *Status
}

// Status is how a child ended.
type Status struct {
	Exited bool
	Code   int         // exit code when Exited
	Signal unix.Signal // the signal that killed it otherwise
	Core   bool
}

// String formats like a shell: "exit 3" or "signal SIGKILL".
func (s *Status) String() string {
	if s.Exited {
		return fmt.Sprintf("exit %d", s.Code)
	}
	return "signal " + unix.SignalName(s.Signal)
}

var children = struct {
	sync.Mutex
	live map[*Proc]struct{}
}{live: map[*Proc]struct{}{}}

var (
	inheritedOnce sync.Once
	inheritedErr  error
)

// MaxMappedFd bounds child descriptor numbers; the kernel's own bound is
// RLIMIT_NOFILE, checked when the child's dup3 runs.
const MaxMappedFd = 1 << 20

// Spawn starts a program. Map entries that are closed handles fail before
// anything starts.
func Spawn(a Attr) (*Proc, error) {
	if len(a.Argv) == 0 || a.Argv[0] == "" {
		return nil, sys.Errorf("spawn", "", unix.EINVAL, "argv is empty")
	}
	env := a.Env
	if env == nil {
		env = os.Environ()
	}
	path, err := lookPath(a.Argv[0], env)
	if err != nil {
		return nil, err
	}
	// The first spawn marks every descriptor this process inherited
	// close-on-exec (as the CLI does at start-up), so that no fd it did
	// not create itself can slip into a child beside the map.
	inheritedOnce.Do(func() { inheritedErr = fdio.MarkInheritedCloexec() })
	if inheritedErr != nil {
		return nil, inheritedErr
	}
	files, err := buildFiles(a)
	if err != nil {
		return nil, err
	}
	pidfd := -1
	attr := &syscall.ProcAttr{
		Dir:   a.Dir,
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: a.Setsid, PidFD: &pidfd},
	}
	pid, err := syscall.ForkExec(path, a.Argv, attr)
	if err != nil {
		return nil, sys.Wrap("spawn", a.Argv[0], err)
	}
	p := &Proc{Pid: pid, Argv: a.Argv, Detach: a.Detach}
	if pidfd >= 0 {
		p.Pidfd = fdio.Own(pidfd)
	} else {
		// clone3 without CLONE_PIDFD (old kernel or seccomp): open one now;
		// the child cannot have been reaped yet because only we wait for it.
		n, err := sys.PidfdOpen(pid, 0)
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			return nil, err
		}
		p.Pidfd = fdio.Own(n)
	}
	children.Lock()
	children.live[p] = struct{}{}
	children.Unlock()
	return p, nil
}

// buildFiles turns the map into ForkExec's Files slice, where index i is
// the child's descriptor i and -1 closes it. ForkExec first moves every
// source that a lower target would overwrite out of the way, so swaps,
// cycles and one handle at several numbers all come out right.
func buildFiles(a Attr) ([]uintptr, error) {
	top := 2
	for k := range a.Fds {
		if k < 0 || k > MaxMappedFd {
			return nil, sys.Errorf("spawn", "", unix.EBADF, "fds[%d]: child descriptor numbers go from 0 to %d", k, MaxMappedFd)
		}
		if k > top {
			top = k
		}
	}
	files := make([]uintptr, top+1)
	for i := range files {
		files[i] = ^uintptr(0)
		if i <= 2 && !a.NoStdio {
			files[i] = uintptr(i)
		}
	}
	keys := make([]int, 0, len(a.Fds))
	for k := range a.Fds {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		h := a.Fds[k]
		if h == nil {
			files[k] = ^uintptr(0)
			continue
		}
		n, err := h.Num()
		if err != nil {
			return nil, sys.Errorf("spawn", "", unix.EBADF, "fds[%d] is a closed handle", k)
		}
		files[k] = uintptr(n)
	}
	return files, nil
}

func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			pathEnv = kv[5:]
		}
	}
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil && pathEnv == "" {
		return p, nil
	}
	return "", sys.Errorf("spawn", name, unix.ENOENT, "%q not found in PATH", name)
}

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
	children.Unlock()
	p.Pidfd.Close()
	return s, nil
}

// Wait blocks until the child exits (for Go callers without a loop).
func (p *Proc) Wait(timeout time.Duration) (*Status, error) {
	var st *Status
	err := fdio.Block(p.Pidfd, unix.POLLIN, timeout, "wait", func() error {
		var err error
		st, err = p.TryWait()
		return err
	})
	if st != nil {
		return st, nil
	}
	return nil, err
}

// Status returns how the child ended, or nil while it runs (unreaped).
func (p *Proc) Status() *Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
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
func TerminateAll(grace time.Duration) {
	var procs []*Proc
	for _, p := range Children() {
		if p.Detach {
			children.Lock()
			delete(children.live, p)
			children.Unlock()
			p.Pidfd.Close()
			continue
		}
		procs = append(procs, p)
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
	}
}

// SignalByName maps "TERM", "SIGTERM", "term" or a number to a signal.
func SignalByName(s string) (unix.Signal, error) {
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	return 0, sys.Errorf("kill", s, unix.EINVAL, "unknown signal %q", s)
}

// si_code values of SIGCHLD (x/sys/unix does not export them).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)
