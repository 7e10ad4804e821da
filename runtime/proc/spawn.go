// Package proc starts programs with an exact descriptor map, holds their
// pidfds, and waits for and signals them through those pidfds. It also
// replaces the current program (Exec), takes descriptors out of other
// processes (GetFd), hands sockets over systemd-style (Attr.Listen) and
// waits for readiness (Attr.Notify, Attr.NotifyFd).
package proc

import (
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/ns"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Stdio says what the child gets at 0, 1 or 2 when Fds does not map it.
type Stdio int

const (
	StdioInherit Stdio = iota // this process's own 0, 1 or 2
	StdioNull                 // /dev/null, opened read-write
	StdioPipe                 // a pipe; the parent end is Proc.Stdin/Stdout/Stderr
	StdioClose                // nothing: the number stays closed
)

// Rlimit is one resource limit for the child (Resource is unix.RLIMIT_*).
type Rlimit struct {
	Resource int
	Cur, Max uint64
}

// Cred is the identity the child runs as. A nil Groups clears the
// supplementary groups (a dropped-privilege child keeps none of root's).
type Cred struct {
	Uid, Gid uint32
	Groups   []uint32
}

// Attr describes a program to start.
type Attr struct {
	Argv []string
	Env  []string // nil: this process's environment
	// EnvAdd entries ("K=V") are applied on top of Env, replacing any
	// earlier value of the same key.
	EnvAdd []string
	Dir    string
	// Fds maps child descriptor numbers to handles. The child holds exactly
	// these, at exactly these numbers, plus 0-2 per Stdio (a nil entry
	// leaves a number closed).
	Fds map[int]*fdio.FD
	// Stdio applies to 0, 1 and 2 when Fds does not name them.
	Stdio [3]Stdio
	// NoStdio, when set, makes every StdioInherit entry StdioClose.
	NoStdio bool
	Setsid  bool
	// Setpgid puts the child in process group Pgid (0: a new group whose
	// id is the child's pid).
	Setpgid   bool
	Pgid      int
	Pdeathsig unix.Signal
	Cred      *Cred
	Umask     *int
	Rlimits   []Rlimit
	// Listen puts these sockets at 3, 4, ... and sets LISTEN_FDS,
	// LISTEN_FDNAMES (from ListenNames), LISTEN_PID (the child's own pid)
	// and LISTEN_PIDFDID (when the kernel has pidfs).
	Listen      []*fdio.FD
	ListenNames []string
	// Notify gives the child a NOTIFY_SOCKET; NotifyFd > 0 gives it the
	// write end of a pipe at that number (s6 readiness). See Proc.Ready.
	Notify   bool
	NotifyFd int
	// Detach keeps the child alive when TerminateAll runs at exit.
	Detach bool
	// Cgroup, when set, is a cgroup v2 directory handle: the child is
	// created inside it by clone3 (CLONE_INTO_CGROUP), so not even a
	// process it forks at once can escape the group.
	Cgroup *fdio.FD
	// Isolate, when set, gives the child namespaces of its own or joined
	// ones, a root built from handed-in directories, no_new_privs, or a
	// program run from a handle (see runtime/ns and isolate.go).
	Isolate *ns.Spec
}

// Proc is a started child, held by its pidfd.
type Proc struct {
	Pid   int
	Pidfd *fdio.FD
	Argv  []string
	// Detach is copied from Attr.
	Detach bool
	// Stdin, Stdout and Stderr are the parent's ends of StdioPipe streams.
	Stdin, Stdout, Stderr *fdio.FD
	// Trampolined reports that the child went through the re-exec
	// trampoline (for umask, rlimits or socket activation).
	Trampolined bool

	mu     sync.Mutex
	status *Status
	ready  *readiness
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
	return "signal " + sys.SignalName(s.Signal)
}

var children = struct {
	sync.Mutex
	live map[*Proc]struct{}
	pids map[int]bool // pids of live children, for the orphan reaper
}{live: map[*Proc]struct{}{}, pids: map[int]bool{}}

var (
	inheritedOnce sync.Once
	inheritedErr  error
)

// MaxMappedFd bounds child descriptor numbers; the kernel's own bound is
// the hard RLIMIT_NOFILE, checked before the child starts.
const MaxMappedFd = 1 << 20

// Spawn starts a program. Map entries that are closed handles, and every
// other bad argument, fail before anything starts.
func Spawn(a Attr) (*Proc, error) {
	// The first spawn marks every descriptor this process inherited
	// close-on-exec (as the CLI does at start-up), so that no fd it did
	// not create itself can slip into a child beside the map.
	inheritedOnce.Do(func() { inheritedErr = fdio.MarkInheritedCloexec() })
	if inheritedErr != nil {
		return nil, inheritedErr
	}
	pl, err := prepare("spawn", a, false)
	if err != nil {
		return nil, err
	}
	top := -1
	for k := range pl.fds {
		top = max(top, k)
	}
	var errR *fdio.FD
	path, argv := pl.path, a.Argv
	if pl.tramp != nil {
		exe, err := trampolineExe()
		if err != nil {
			pl.abort()
			return nil, err
		}
		// The trampoline reports a failure before its exec through this
		// pipe, whose write end it holds just above the map.
		r, w, err := fdio.Pipe()
		if err != nil {
			pl.abort()
			return nil, err
		}
		errR = r
		pl.childOnly = append(pl.childOnly, w)
		top++
		pl.tramp.errFd = top
		pl.fds[top] = w.Raw()
		top = isolationFds(pl, top)
		argv = pl.tramp.argv(pl.path, a.Argv)
		path = exe
	}
	files := make([]uintptr, top+1)
	for i := range files {
		files[i] = ^uintptr(0)
	}
	for k, n := range pl.fds {
		if n >= 0 {
			files[k] = uintptr(n)
		}
	}
	spa := &syscall.SysProcAttr{Setsid: a.Setsid, Setpgid: a.Setpgid, Pgid: a.Pgid}
	if pl.tramp == nil {
		// Without the trampoline Go's own fork path sets these.
		spa.Pdeathsig = syscall.Signal(a.Pdeathsig)
		if a.Cred != nil {
			spa.Credential = &syscall.Credential{Uid: a.Cred.Uid, Gid: a.Cred.Gid, Groups: a.Cred.Groups}
		}
	}
	if a.Cgroup != nil {
		cg, err := a.Cgroup.Num()
		if err != nil {
			return nil, sys.Errorf("spawn", a.Argv[0], unix.EBADF, "cgroup is a closed handle")
		}
		spa.UseCgroupFD, spa.CgroupFD = true, cg
	}
	pidfd := -1
	spa.PidFD = &pidfd
	dir := a.Dir
	isolationAttr(pl, spa, &dir)
	attr := &syscall.ProcAttr{Dir: dir, Env: pl.env, Files: files, Sys: spa}
	// The reaper must not take this child for an orphan between the clone
	// and its registration below.
	reapMu.RLock()
	pid, err := forkExec(pl, path, argv, attr)
	if err != nil {
		reapMu.RUnlock()
		pl.abort()
		if errR != nil {
			errR.Close()
		}
		return nil, explainStartError("spawn", a, path, err)
	}
	p := &Proc{Pid: pid, Argv: a.Argv, Detach: a.Detach, Trampolined: pl.tramp != nil}
	p.Stdin, p.Stdout, p.Stderr = pl.parentEnds[0], pl.parentEnds[1], pl.parentEnds[2]
	p.ready = pl.ready
	if p.ready != nil {
		p.ready.start(pid, a.Setsid) // notify.go: who may speak for it; the drainer
	}
	if pidfd >= 0 {
		p.Pidfd = fdio.Own(pidfd)
	} else {
		// clone3 without CLONE_PIDFD (old kernel or seccomp): open one now;
		// the child cannot have been reaped yet because only we wait for it.
		n, err := sys.PidfdOpen(pid, 0)
		if err != nil {
			reapMu.RUnlock()
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			pl.abort()
			return nil, err
		}
		p.Pidfd = fdio.Own(n)
	}
	children.Lock()
	children.live[p] = struct{}{}
	children.pids[pid] = true
	children.Unlock()
	reapMu.RUnlock()
	for _, f := range pl.childOnly {
		f.Close()
	}
	pl.closeIsolation()
	if errR != nil {
		err := readTrampolineError(errR, "spawn", a.Argv[0])
		errR.Close()
		if err != nil {
			p.Wait(0)
			p.closeEnds()
			return nil, err
		}
	}
	return p, nil
}

// closeEnds closes the parent's pipe ends and the readiness channel.
func (p *Proc) closeEnds() {
	for _, f := range []*fdio.FD{p.Stdin, p.Stdout, p.Stderr} {
		if f != nil {
			f.Close()
		}
	}
	if p.ready != nil {
		p.ready.close()
	}
}
