package proc

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/ns"
	"github.com/fdwire/fdwire/runtime/sys"
)

// plan is a spawn or exec worked out in the parent: the final map, the
// environment, and what the parent must close or keep afterwards.
type plan struct {
	path       string
	env        []string
	fds        map[int]int // child number -> parent number (-1: closed)
	childOnly  []*fdio.FD  // parent copies of child-only ends, closed after start
	parentEnds [3]*fdio.FD // StdioPipe parent ends
	ready      *readiness
	// execChecks: the program was not checked before the fork; execve
	// checks it in Go's fork path and explainStartError explains a
	// failure with the same checks (see prepare).
	execChecks bool
	tramp      *trampSpec
	iso        *ns.Plan // namespaces and root (isolate.go)
	cgroup     int      // the cgroup directory's number, -1 for none
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
	pl.closeIsolation()
}

// prepare checks a and works out the child's descriptor map and
// environment. Nothing is started and nothing leaks on error.
func (o *Owner) prepare(op string, a Attr, forExec bool) (_ *plan, err error) {
	if len(a.Argv) == 0 || a.Argv[0] == "" {
		return nil, sys.Errorf(op, "", unix.EINVAL, "argv is empty")
	}
	if a.Setsid && a.Setpgid {
		return nil, sys.Errorf(op, a.Argv[0], unix.EINVAL, "setsid and pgroup together: a new session already has a new process group")
	}
	pl := &plan{fds: map[int]int{}, cgroup: -1}
	if a.Cgroup != nil {
		// Checked first: nothing is made yet that would need closing.
		n, err := a.Cgroup.Num()
		if err != nil {
			return nil, sys.Errorf(op, a.Argv[0], unix.EBADF, "cgroup is a closed handle")
		}
		pl.cgroup = n
	}
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
	// Only what the caller gave is scanned: this process's own
	// environment cannot hold a NUL (setenv refuses one).
	for _, list := range [2][]string{a.Env, a.EnvAdd} {
		for _, kv := range list {
			if strings.IndexByte(kv, 0) >= 0 {
				return nil, &sys.Error{Op: op, Addr: a.Argv[0], Err: unix.EINVAL, Facts: map[string]any{"field": "env"},
					Hint: fmt.Sprintf("env entry %q contains a NUL byte", strings.Split(kv, "\x00")[0])}
			}
		}
	}
	for i, s := range a.Argv {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, &sys.Error{Op: op, Addr: a.Argv[0], Err: unix.EINVAL, Facts: map[string]any{"field": fmt.Sprintf("argv[%d]", i)},
				Hint: fmt.Sprintf("argv[%d] contains a NUL byte", i)}
		}
	}
	// In an isolated child cwd names a directory of its new root, which
	// does not exist yet: only the child's error report can name it then.
	if a.Dir != "" && a.Isolate == nil {
		if err := checkDir(op, a.Argv[0], a.Dir); err != nil {
			return nil, err
		}
	}
	if a.Pdeathsig < 0 || a.Pdeathsig > 64 {
		return nil, &sys.Error{Op: op, Addr: a.Argv[0], Err: unix.EINVAL, Facts: map[string]any{"field": "pdeathsig"},
			Hint: fmt.Sprintf("pdeathsig %d is not a signal (1 to 64)", int(a.Pdeathsig))}
	}
	if a.Setpgid && a.Pgid < 0 {
		return nil, &sys.Error{Op: op, Addr: a.Argv[0], Err: unix.EINVAL, Facts: map[string]any{"field": "pgroup"},
			Hint: fmt.Sprintf("pgroup %d is not a process group id", a.Pgid)}
	}
	// Credentials always go through the trampoline, so that privdrop.Drop,
	// which verifies the result, is the one implementation of the drop.
	needTramp := a.Umask != nil || len(a.Rlimits) > 0 || len(a.Listen) > 0 || a.Cred != nil || forExec || a.Isolate != nil
	switch {
	case a.Isolate != nil && a.Isolate.Exe != nil:
		pl.path = a.Argv[0] // the program is the exe handle
	case !needTramp && strings.HasPrefix(a.Argv[0], "/"):
		// An absolute path that Go's fork path execs directly is checked
		// by that execve, before anything of the program runs, with the
		// same credentials and root: a stat and an access(X_OK) here
		// would only repeat it on every spawn. A failure is explained by
		// the very checks lookPath makes (explainStartError), so the
		// error is the same. (Through the trampoline the program is
		// exec'd later and its failure reported from there: checked
		// here.)
		pl.path, pl.execChecks = a.Argv[0], true
	default:
		if pl.path, err = lookPath(op, a.Argv[0], pl.env); err != nil {
			return nil, err
		}
	}
	hard := a.FdLimit
	if hard == 0 {
		if err := o.inject("rlimit"); err != nil {
			return nil, err
		}
		if _, hard, err = sys.Getrlimit(unix.RLIMIT_NOFILE); err != nil {
			return nil, err
		}
	}
	limit := min(uint64(MaxMappedFd), hard)
	// put maps child number k to f; what names the option for errors
	// ("" is fds[k], formatted only then).
	put := func(k int, f *fdio.FD, what string) error {
		name := func() string {
			if what == "" {
				return fmt.Sprintf("fds[%d]", k)
			}
			return what
		}
		if k < 0 || uint64(k) >= limit {
			return sys.Errorf(op, "", unix.EBADF, "%s: child descriptor numbers go from 0 to %d (RLIMIT_NOFILE hard limit and fdwire's bound)", name(), limit-1)
		}
		if _, dup := pl.fds[k]; dup {
			return sys.Errorf(op, "", unix.EINVAL, "%s: descriptor %d is already given by another option (fds, stdio, listen or notify_fd)", name(), k)
		}
		if f == nil {
			pl.fds[k] = -1
			return nil
		}
		n, err := f.Num()
		if err != nil {
			return sys.Errorf(op, "", unix.EBADF, "%s is a closed handle", name())
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
		if err := put(k, a.Fds[k], ""); err != nil {
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
		if err := o.inject("notify"); err != nil {
			return nil, err
		}
		pl.ready, err = newReadiness(a.Notify, o.warden)
		if err != nil {
			return nil, err
		}
		if a.Notify {
			pl.env = mergeEnv(pl.env, []string{"NOTIFY_SOCKET=" + pl.ready.addr})
		}
		if a.NotifyFd > 0 {
			if err := o.inject("notify-pipe"); err != nil {
				return nil, err
			}
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
			if err := o.inject("stdio-null"); err != nil {
				return nil, err
			}
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
			if err := o.inject("stdio-pipe"); err != nil {
				return nil, err
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
	if err := prepareIsolation(a, forExec, pl); err != nil {
		return nil, err
	}
	if needTramp || pl.iso != nil {
		t := &trampSpec{umask: -1, rlimits: a.Rlimits, listen: len(a.Listen) > 0, closeLow: closedLow, errFd: -1, prog: -1, dir: -1}
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
		if pl.iso != nil {
			t.ns = &pl.iso.Child
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

// DefaultPath is searched for a child whose environment has no PATH (the
// default systemd gives services). An empty PATH entry is not ".".
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds the program as os/exec does, in the PATH the child will
// have (DefaultPath when it has none): never in the current directory
// unless the name says so ("./evil"), an empty or relative PATH entry is
// not searched (os/exec's ErrDot), and a candidate must pass
// access(X_OK), not just have an x bit.
func lookPath(op, name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", programError(op, name, err, "")
		}
		return name, nil
	}
	pathEnv, found := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv, found = v, true
		}
	}
	if !found {
		pathEnv = DefaultPath
	}
	var denied error
	relative := ""
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" {
			continue
		}
		p := dir + "/" + name
		if !strings.HasPrefix(dir, "/") {
			if relative == "" && executable(p) == nil {
				relative = p
			}
			continue
		}
		err := executable(p)
		if err == nil {
			return p, nil
		}
		if denied == nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			denied = err
		}
	}
	where := "PATH=" + pathEnv
	if !found {
		where = "PATH (the child's environment has none, so the default " + DefaultPath + ")"
	}
	switch {
	case relative != "":
		return "", &sys.Error{Op: op, Addr: name, Err: unix.ENOENT, Facts: map[string]any{"field": "argv[0]"},
			Hint: fmt.Sprintf("the program %q was found only as %s, through a relative PATH entry; like os/exec, fdwire does not run programs relative to the current directory that way (write %q to mean it)", name, relative, "./"+name)}
	case denied != nil:
		return "", programError(op, name, denied, where)
	}
	return "", &sys.Error{Op: op, Addr: name, Err: unix.ENOENT, Facts: map[string]any{"field": "argv[0]"},
		Hint: fmt.Sprintf("the program %q was not found in %s", name, where)}
}

// executable is what execve will check: a file (not a directory) that
// access(X_OK) allows.
func executable(p string) error {
	var st unix.Stat_t
	if err := sys.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return sys.Errorf("access", p, unix.EACCES, "is a directory")
	}
	return sys.Access(p, unix.X_OK)
}

// programError names argv[0] in an error about the program file.
func programError(op, name string, err error, where string) error {
	e := &sys.Error{Op: op, Addr: name, Err: sys.ErrnoOf(err), Facts: map[string]any{"field": "argv[0]"}}
	if e.Errno() == 0 {
		e.Err = err
	}
	e.Hint = fmt.Sprintf("the program (argv[0]) %v", err)
	if where != "" {
		e.Hint += "; searched " + where
	}
	return e
}

// checkDir is the pre-fork check of cwd: it exists, is a directory and
// can be entered. (A child with another uid may still be refused; the
// error after the fork names cwd then too.)
func checkDir(op, prog, dir string) error {
	var st unix.Stat_t
	err := sys.Stat(dir, &st)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		err = sys.Errorf("stat", dir, unix.ENOTDIR, "not a directory")
	}
	if err == nil {
		err = sys.Access(dir, unix.X_OK)
	}
	if err != nil {
		return fieldError(op, prog, "cwd", err, fmt.Sprintf("cwd %q", dir))
	}
	return nil
}

// fieldError is err as an error of op naming the spec field that caused
// it: "spawn true: ENOENT: cwd \"/nonexistent\": no such file or directory".
func fieldError(op, prog, field string, err error, what string) error {
	en := sys.ErrnoOf(err)
	text := err.Error()
	var se *sys.Error
	if errors.As(err, &se) {
		text = se.Msg()
	}
	return &sys.Error{Op: op, Addr: prog, Err: en, Plain: true, Hint: what + ": " + text,
		Facts: map[string]any{"field": field}}
}

// explainStartError names the field behind a failed fork+exec, whose
// errno alone does not say which step failed: the working directory, the
// identity, or the program.
func explainStartError(op string, a Attr, pl *plan, path string, err error) error {
	en := sys.ErrnoOf(err)
	prog := a.Argv[0]
	switch en {
	case unix.ENOENT, unix.ENOTDIR, unix.EACCES, unix.ELOOP, unix.ENAMETOOLONG:
		if a.Dir != "" {
			if cerr := checkDir(op, prog, a.Dir); cerr != nil {
				return cerr
			}
			if en == unix.EACCES && a.Cred != nil {
				return fieldError(op, prog, "cwd", err, fmt.Sprintf("cwd %q (as uid %d)", a.Dir, a.Cred.Uid))
			}
		}
		if pl.execChecks {
			// The error prepare's lookPath would have given before the
			// fork (the program is a name with a /: lookPath's own path).
			if perr := executable(path); perr != nil {
				return programError(op, prog, perr, "")
			}
		}
		return programError(op, prog, err, "")
	case unix.EPERM, unix.EINVAL:
		if a.Cred != nil {
			return fieldError(op, prog, "uid", err, fmt.Sprintf("changing to uid %d gid %d groups %v (needs CAP_SETUID and CAP_SETGID)", a.Cred.Uid, a.Cred.Gid, a.Cred.Groups))
		}
	case unix.E2BIG:
		return fieldError(op, prog, "env", err, "argv and env together are larger than the kernel takes")
	case unix.ENOEXEC, unix.ETXTBSY, unix.EISDIR, unix.ELIBBAD:
		return programError(op, prog, err, "")
	}
	return sys.Wrap(op, prog, err)
}
