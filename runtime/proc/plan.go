package proc

import (
	"fmt"
	"os"
	"os/exec"
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
	tramp      *trampSpec
	iso        *ns.Plan // namespaces and root (isolate.go)
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
	if a.Isolate != nil && a.Isolate.Exe != nil {
		pl.path = a.Argv[0] // the program is the exe handle
	} else if pl.path, err = lookPath(op, a.Argv[0], pl.env); err != nil {
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
	if err := prepareIsolation(a, forExec, pl); err != nil {
		return nil, err
	}
	if a.Umask != nil || len(a.Rlimits) > 0 || len(a.Listen) > 0 || forExec || pl.iso != nil {
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
