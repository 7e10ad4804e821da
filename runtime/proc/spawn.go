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

// Cred is the identity the child runs as. The drop is privdrop.Drop's,
// done in the child by the trampoline: a nil Groups clears the
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
	Setpgid bool
	Pgid    int
	// Pdeathsig is the signal the child gets when this process ends
	// (default SIGKILL; refused with Detach).
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
	// Detach starts the child in a session of its own, with no death
	// signal, and leaves it running when its owner closes or this process
	// ends, however it ends.
	Detach bool
	// Cgroup, when set, is a cgroup v2 directory handle: the child is
	// created inside it by clone3 (CLONE_INTO_CGROUP), so not even a
	// process it forks at once can escape the group.
	Cgroup *fdio.FD
	// Isolate, when set, gives the child namespaces of its own or joined
	// ones, a root built from handed-in directories, no_new_privs, or a
	// program run from a handle (see runtime/ns and isolate.go).
	Isolate *ns.Spec
	// FdLimit, when not 0, is the hard RLIMIT_NOFILE the caller has just
	// read to check the numbers it maps (luabind does, for its argument
	// errors): child numbers are bounded by it instead of by a second
	// read of the same limit.
	FdLimit uint64
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

	owner *Owner
	// onSpawner: forked on the owner's spawner thread, not the pinned one.
	onSpawner bool
	mu        sync.Mutex
	status    *Status
	ready     *readiness
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

// MaxMappedFd bounds child descriptor numbers; the kernel's own bound is
// the hard RLIMIT_NOFILE, checked before the child starts.
const MaxMappedFd = 1 << 20

// Spawn starts a program as a child of o. Map entries that are closed
// handles, and every other bad argument, fail before anything starts;
// every error path closes what it made.
//
// Unless a.Detach is set the child gets PR_SET_PDEATHSIG (SIGKILL, or
// a.Pdeathsig) and is forked from o's spawner thread (see spawner.go), so
// the kernel ends it however this process ends. A detached child gets a
// new session, no death signal and no cgroup of ours, and is never ended
// by o or by the Reaper.
func (o *Owner) Spawn(a Attr) (*Proc, error) {
	if err := o.usable("spawn", a.Argv0()); err != nil {
		return nil, err
	}
	if a.Detach {
		if a.Setpgid {
			return nil, sys.Errorf("spawn", a.Argv0(), unix.EINVAL, "detach and pgroup together: a detached child gets a session of its own")
		}
		if a.Pdeathsig != 0 {
			return nil, sys.Errorf("spawn", a.Argv0(), unix.EINVAL, "detach and pdeathsig together: a detached child outlives this process")
		}
		a.Setsid = true
	} else if a.Pdeathsig == 0 {
		a.Pdeathsig = unix.SIGKILL
	}
	if err := o.inject("mark-inherited"); err != nil {
		return nil, err
	}
	if o.reaper != nil {
		if err := o.reaper.Arm(); err != nil {
			return nil, err
		}
		o.lookForOrphans() // wait.go
	}
	// The first spawn marks every descriptor this process inherited
	// close-on-exec (as the CLI does at start-up), so that no fd it did
	// not create itself can slip into a child beside the map.
	o.markOnce.Do(func() { o.markErr = fdio.MarkInheritedCloexec() })
	if o.markErr != nil {
		return nil, o.markErr
	}
	pl, err := o.prepare("spawn", a, false)
	if err != nil {
		return nil, err
	}
	o.placeChild(&a, pl) // cgroup.go
	var p *Proc
	// Parent-side namespace joins happen on the forking thread and may not
	// be undone: never on the pinned thread, which runs everything else.
	// (New namespaces and mount joins are made in the child.)
	if (pl.iso == nil || len(pl.iso.ParentJoins) == 0) && o.forkHere(func() { p, err = o.start(a, pl, false) }) {
		return p, err
	}
	if !o.onSpawner(func() { p, err = o.start(a, pl, true) }) {
		pl.abort()
		return nil, sys.Errorf("spawn", a.Argv0(), unix.EBADF, "the runtime that owns children is closed")
	}
	return p, err
}

// start runs on the forking thread (the spawner's, or the pinned one): it
// forks, takes the pidfd and records the child. pl is consumed: on error
// everything in it is closed.
func (o *Owner) start(a Attr, pl *plan, onSpawner bool) (_ *Proc, err error) {
	var errR *fdio.FD
	defer func() {
		if err != nil {
			pl.abort()
			if errR != nil {
				errR.Close()
			}
		}
	}()
	top := -1
	for k := range pl.fds {
		top = max(top, k)
	}
	path, argv := pl.path, a.Argv
	if pl.tramp != nil {
		exe, err := trampolineExe()
		if err != nil {
			return nil, err
		}
		if err := o.inject("trampoline-pipe"); err != nil {
			return nil, err
		}
		// The trampoline reports a failure before its exec through this
		// pipe, whose write end it holds just above the map.
		r, w, err := fdio.Pipe()
		if err != nil {
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
	// Go's fork path sets the death signal just before exec, after any
	// credential change (which would clear it); the trampoline sets it
	// again after its own. It is bound to this thread: see spawner.go.
	spa.Pdeathsig = syscall.Signal(a.Pdeathsig)
	if pl.iso != nil {
		// In a new or joined pid namespace the child's getppid() is 0,
		// which Go's fork path takes for "the parent died" and kills the
		// child: the trampoline (always used with isolation) sets the
		// signal instead and checks its parent through the report pipe,
		// which works across namespaces.
		spa.Pdeathsig = 0
	}
	if pl.cgroup >= 0 {
		spa.UseCgroupFD, spa.CgroupFD = true, pl.cgroup
	}
	pidfd := -1
	spa.PidFD = &pidfd
	dir := a.Dir
	isolationAttr(pl, spa, &dir)
	attr := &syscall.ProcAttr{Dir: dir, Env: pl.env, Files: files, Sys: spa}
	if err := o.inject("fork"); err != nil {
		return nil, err
	}
	// The reaper must not take this child for an orphan between the clone
	// and its registration below.
	release := func() {}
	if o.reaper != nil {
		release = o.reaper.Hold()
	}
	pid, ferr := o.fork(pl, path, argv, attr)
	if ferr != nil {
		release()
		return nil, explainStartError("spawn", a, pl, path, ferr)
	}
	p := &Proc{Pid: pid, Argv: a.Argv, Detach: a.Detach, Trampolined: pl.tramp != nil, owner: o, onSpawner: onSpawner}
	if pidfd < 0 || o.failAt == "pidfd" {
		// clone3 without CLONE_PIDFD (old kernel or seccomp): open one now;
		// the child cannot have been reaped yet because only we wait for it.
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		pidfd, err = sys.PidfdOpen(pid, 0)
		if err == nil {
			if err = o.inject("pidfd"); err != nil {
				unix.Close(pidfd)
			}
		}
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			sys.WaitPid(pid)
			release()
			return nil, err
		}
	}
	p.Pidfd = fdio.Own(pidfd)
	if o.afterFork != nil {
		o.afterFork(pid)
	}
	if !o.add(p) {
		// Close ran while this child was being born (a Go caller spawning
		// from another goroutine): it is ended here, as Close would have.
		release()
		if p.Kill(unix.SIGKILL) == nil {
			p.Wait(0)
		}
		p.Pidfd.Close()
		return nil, sys.Errorf("spawn", a.Argv0(), unix.EBADF, "the runtime that owns children was closed during the spawn")
	}
	release()
	if a.Detach && o.reaper != nil {
		o.reaper.Spare(pid)
	}
	p.Stdin, p.Stdout, p.Stderr = pl.parentEnds[0], pl.parentEnds[1], pl.parentEnds[2]
	p.ready = pl.ready
	if p.ready != nil {
		p.ready.start(pid, a.Setsid, p.Pidfd) // notify.go: who may speak for it; the drainer
	}
	for _, f := range pl.childOnly {
		f.Close()
	}
	pl.closeIsolation()
	if errR != nil {
		terr := readTrampolineError(errR, "spawn", a.Argv[0])
		if terr == nil {
			terr = o.inject("trampoline-report")
		}
		errR.Close()
		errR = nil
		if terr != nil {
			if err := p.Kill(unix.SIGKILL); err == nil {
				p.Wait(0)
			}
			p.closeEnds()
			return nil, terr
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

// fork forks on the spawner thread (this one), entering and leaving the
// plan's parent-side namespace joins here rather than on a thread of
// their own, whose end would fire the child's death signal.
func (o *Owner) fork(pl *plan, path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	if pl.iso == nil {
		return syscall.ForkExec(path, argv, attr)
	}
	var pid int
	restored, err := ns.OnThisThread(pl.iso.ParentJoins, func() error {
		var ferr error
		pid, ferr = syscall.ForkExec(path, argv, attr)
		return ferr
	})
	if !restored {
		o.spawner.taint()
	}
	return pid, pl.iso.ForkError(err)
}
