// Package proc starts programs with an exact descriptor map, holds their
// pidfds, and waits for and signals them through those pidfds. It also
// replaces the current program (Exec), takes descriptors out of other
// processes (GetFd), hands sockets over systemd-style (Attr.Listen) and
// waits for readiness (Attr.Notify, Attr.NotifyFd).
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
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
	return "signal " + unix.SignalName(s.Signal)
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

// plan is a spawn or exec worked out in the parent: the final map, the
// environment, and what the parent must close or keep afterwards.
type plan struct {
	path       string
	env        []string
	fds        map[int]int // child number -> parent number (-1: closed)
	childOnly  []*fdio.FD  // parent copies of child-only ends, closed after start
	parentEnds [3]*fdio.FD // StdioPipe parent ends
	ready      *readiness
	tramp      *trampSpec
}

func (pl *plan) abort() {
	for _, f := range pl.childOnly {
		f.Close()
	}
	for _, f := range pl.parentEnds {
		if f != nil {
			f.Close()
		}
	}
	if pl.ready != nil {
		pl.ready.close()
	}
}

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
	attr := &syscall.ProcAttr{Dir: a.Dir, Env: pl.env, Files: files, Sys: spa}
	// The reaper must not take this child for an orphan between the clone
	// and its registration below.
	reapMu.RLock()
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil {
		reapMu.RUnlock()
		pl.abort()
		if errR != nil {
			errR.Close()
		}
		return nil, sys.Wrap("spawn", a.Argv[0], err)
	}
	p := &Proc{Pid: pid, Argv: a.Argv, Detach: a.Detach, Trampolined: pl.tramp != nil}
	p.Stdin, p.Stdout, p.Stderr = pl.parentEnds[0], pl.parentEnds[1], pl.parentEnds[2]
	p.ready = pl.ready
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

// prepare checks a and works out the child's descriptor map and
// environment. Nothing is started and nothing leaks on error.
func prepare(op string, a Attr, forExec bool) (_ *plan, err error) {
	if len(a.Argv) == 0 || a.Argv[0] == "" {
		return nil, sys.Errorf(op, "", unix.EINVAL, "argv is empty")
	}
	if a.Setsid && a.Setpgid {
		return nil, sys.Errorf(op, a.Argv[0], unix.EINVAL, "setsid and pgroup together: a new session already has a new process group")
	}
	pl := &plan{fds: map[int]int{}}
	defer func() {
		if err != nil {
			pl.abort()
		}
	}()
	pl.env = a.Env
	if pl.env == nil {
		pl.env = os.Environ()
	}
	pl.env = mergeEnv(pl.env, a.EnvAdd)
	pl.path, err = lookPath(op, a.Argv[0], pl.env)
	if err != nil {
		return nil, err
	}
	_, hard, err := sys.Getrlimit(unix.RLIMIT_NOFILE)
	if err != nil {
		return nil, err
	}
	limit := min(uint64(MaxMappedFd), hard)
	put := func(k int, f *fdio.FD, what string) error {
		if k < 0 || uint64(k) >= limit {
			return sys.Errorf(op, "", unix.EBADF, "%s: child descriptor numbers go from 0 to %d (RLIMIT_NOFILE hard limit and fdwire's bound)", what, limit-1)
		}
		if _, dup := pl.fds[k]; dup {
			return sys.Errorf(op, "", unix.EINVAL, "%s: descriptor %d is already given by another option (fds, stdio, listen or notify_fd)", what, k)
		}
		if f == nil {
			pl.fds[k] = -1
			return nil
		}
		n, err := f.Num()
		if err != nil {
			return sys.Errorf(op, "", unix.EBADF, "%s is a closed handle", what)
		}
		pl.fds[k] = n
		return nil
	}
	keys := make([]int, 0, len(a.Fds))
	for k := range a.Fds {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		if err := put(k, a.Fds[k], fmt.Sprintf("fds[%d]", k)); err != nil {
			return nil, err
		}
	}
	if len(a.Listen) > 0 {
		if len(a.ListenNames) > 0 && len(a.ListenNames) != len(a.Listen) {
			return nil, sys.Errorf(op, "", unix.EINVAL, "listen has %d sockets but listen_names has %d names", len(a.Listen), len(a.ListenNames))
		}
		for i, f := range a.Listen {
			if f == nil {
				return nil, sys.Errorf(op, "", unix.EBADF, "listen[%d] is missing", i+1)
			}
			if err := put(3+i, f, fmt.Sprintf("listen[%d] (fd %d)", i+1, 3+i)); err != nil {
				return nil, err
			}
		}
		names := a.ListenNames
		if len(names) == 0 {
			for range a.Listen {
				names = append(names, "unknown")
			}
		}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, ":\n") || len(n) > 255 {
				return nil, sys.Errorf(op, "", unix.EINVAL, "listen name %q: names are 1-255 characters without ':'", n)
			}
		}
		pl.env = mergeEnv(pl.env, []string{
			fmt.Sprintf("LISTEN_FDS=%d", len(a.Listen)),
			"LISTEN_FDNAMES=" + strings.Join(names, ":"),
		})
		pl.env = dropEnv(pl.env, "LISTEN_PID", "LISTEN_PIDFDID")
	}
	if a.Notify || a.NotifyFd > 0 {
		if forExec {
			return nil, sys.Errorf(op, "", unix.EINVAL, "notify and notify_fd need a parent that waits; exec has none")
		}
		pl.ready, err = newReadiness(a.Notify)
		if err != nil {
			return nil, err
		}
		if a.Notify {
			pl.env = mergeEnv(pl.env, []string{"NOTIFY_SOCKET=" + pl.ready.addr})
		}
		if a.NotifyFd > 0 {
			r, w, err := fdio.Pipe()
			if err != nil {
				return nil, err
			}
			pl.ready.setPipe(r)
			pl.childOnly = append(pl.childOnly, w)
			if err := put(a.NotifyFd, w, fmt.Sprintf("notify_fd (fd %d)", a.NotifyFd)); err != nil {
				return nil, err
			}
		}
	}
	var closedLow []int
	for i := 0; i < 3; i++ {
		if _, ok := pl.fds[i]; ok {
			if pl.fds[i] < 0 {
				closedLow = append(closedLow, i)
			}
			continue
		}
		mode := a.Stdio[i]
		if mode == StdioInherit && a.NoStdio {
			mode = StdioClose
		}
		switch mode {
		case StdioInherit:
			pl.fds[i] = i
		case StdioClose:
			pl.fds[i] = -1
			closedLow = append(closedLow, i)
		case StdioNull:
			f, err := fdio.OpenFile("/dev/null", unix.O_RDWR, 0)
			if err != nil {
				return nil, err
			}
			pl.childOnly = append(pl.childOnly, f)
			pl.fds[i] = f.Raw()
		case StdioPipe:
			if forExec {
				return nil, sys.Errorf(op, "", unix.EINVAL, "stdio \"pipe\" needs a parent to hold the other end; exec has none")
			}
			r, w, err := fdio.Pipe()
			if err != nil {
				return nil, err
			}
			if i == 0 {
				pl.parentEnds[i] = w
				pl.childOnly = append(pl.childOnly, r)
				pl.fds[i] = r.Raw()
			} else {
				pl.parentEnds[i] = r
				pl.childOnly = append(pl.childOnly, w)
				pl.fds[i] = w.Raw()
			}
		default:
			return nil, sys.Errorf(op, "", unix.EINVAL, "stdio mode %d is unknown", mode)
		}
	}
	if a.Umask != nil || len(a.Rlimits) > 0 || len(a.Listen) > 0 || forExec {
		t := &trampSpec{umask: -1, rlimits: a.Rlimits, listen: len(a.Listen) > 0, closeLow: closedLow, errFd: -1}
		if a.Umask != nil {
			t.umask = *a.Umask & 0o7777
		}
		if a.Cred != nil {
			c := *a.Cred
			t.cred = &c
		}
		if a.Pdeathsig != 0 {
			t.pdeathsig = int(a.Pdeathsig)
			t.ppid = os.Getpid()
		}
		pl.tramp = t
	}
	return pl, nil
}

// mergeEnv applies "K=V" entries over env, later ones winning.
func mergeEnv(env, add []string) []string {
	if len(add) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(add))
	keys := map[string]bool{}
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] {
			out = append(out, kv)
		}
	}
	seen := map[string]int{}
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func dropEnv(env []string, keys ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, d := range keys {
			drop = drop || k == d
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func lookPath(op, name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv, found := "", false
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			pathEnv, found = kv[5:], true
		}
	}
	if !found {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
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
	return "", sys.Errorf(op, name, unix.ENOENT, "%q not found in PATH", name)
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
