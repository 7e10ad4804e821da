package proc

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/ns"
	"github.com/fdwire/fdwire/runtime/privdrop"
	"github.com/fdwire/fdwire/runtime/sys"
)

// The trampoline. Go cannot run code between fork and exec, and some of
// what a child needs can only be done there: umask, rlimits, and
// LISTEN_PID, which must be the child's own pid. So such a child is first
// started as this same binary (through /proc/self/exe) with argv[0] set to
// TrampolineArg0; RunTrampoline, called first thing in main, sees that,
// does the work in the child and execs the real program. The descriptor
// map was already placed by Go's fork path, so the trampoline only has to
// undo one thing Go's runtime does at start-up: open /dev/null on a closed
// 0, 1 or 2. Exec uses the same trampoline with a descriptor map to apply
// (see exec.go), because moving descriptors inside a live multi-threaded
// Go process could clobber ones its runtime uses.
//
// Which binary: a process that called RunTrampoline is its own trampoline
// (the fdwire CLI does, from cmd/fdwire/trampoline.go; test binaries do
// from TestMain). Otherwise FDWIRE_TRAMPOLINE must name an fdwire binary.

// TrampolineArg0 marks a trampoline run in argv[0].
const TrampolineArg0 = "fdwire-trampoline"

// TrampolineEnv names the fdwire binary to use as trampoline by programs
// that do not call RunTrampoline themselves.
const TrampolineEnv = "FDWIRE_TRAMPOLINE"

var selfTrampoline atomic.Bool

// RunTrampoline must be called at the very start of main (or TestMain).
// In a trampoline run it does the child's set-up and execs the target,
// never returning; otherwise it records that this binary can serve as
// its own trampoline and returns.
func RunTrampoline() {
	if len(os.Args) > 0 && os.Args[0] == TrampolineArg0 {
		os.Exit(trampolineMain(os.Args[1:]))
	}
	selfTrampoline.Store(true)
}

func trampolineExe() (string, error) {
	if selfTrampoline.Load() {
		return "/proc/self/exe", nil
	}
	if p := os.Getenv(TrampolineEnv); p != "" {
		return p, nil
	}
	return "", sys.Errorf("spawn", "", unix.ENOTSUP, "umask, rlimits, listen and exec need fdwire's re-exec trampoline: call proc.RunTrampoline() at the start of main (or TestMain), or set %s to an fdwire binary", TrampolineEnv)
}

// trampSpec is what the trampoline does, passed as argv items.
type trampSpec struct {
	umask     int // -1: keep
	rlimits   []Rlimit
	closeLow  []int
	cred      *Cred
	pdeathsig int
	ppid      int
	listen    bool
	errFd     int           // -1: report on stderr
	moves     [][2]int      // exec only: {target, source}
	ns        *ns.ChildSpec // namespaces and root (isolate.go)
	// exec only: the checked program (O_PATH, above the map), whether it
	// is a #! script, the checked working directory (-1: keep), setsid,
	// setpgid.
	prog, dir int
	script    bool
	setsid    bool
	setpgid   bool
	pgid      int
}

func (t *trampSpec) argv(path string, argv []string) []string {
	out := []string{TrampolineArg0}
	if t.umask >= 0 {
		out = append(out, fmt.Sprintf("u=%o", t.umask))
	}
	for _, r := range t.rlimits {
		out = append(out, fmt.Sprintf("r=%d:%d:%d", r.Resource, r.Cur, r.Max))
	}
	for _, c := range t.closeLow {
		out = append(out, fmt.Sprintf("c=%d", c))
	}
	if t.cred != nil {
		g := make([]string, len(t.cred.Groups))
		for i, x := range t.cred.Groups {
			g[i] = strconv.Itoa(int(x))
		}
		out = append(out, fmt.Sprintf("cred=%d:%d:%s", t.cred.Uid, t.cred.Gid, strings.Join(g, ",")))
	}
	if t.pdeathsig != 0 {
		out = append(out, fmt.Sprintf("pd=%d:%d", t.pdeathsig, t.ppid))
	}
	if t.listen {
		out = append(out, "l=1")
	}
	if t.errFd >= 0 {
		out = append(out, fmt.Sprintf("e=%d", t.errFd))
	}
	for _, m := range t.moves {
		out = append(out, fmt.Sprintf("x=%d:%d", m[0], m[1]))
	}
	if t.ns != nil {
		out = append(out, "ns="+t.ns.Encode())
	}
	if t.prog >= 0 {
		s := 0
		if t.script {
			s = 1
		}
		out = append(out, fmt.Sprintf("p=%d:%d", t.prog, s))
	}
	if t.dir >= 0 {
		out = append(out, fmt.Sprintf("d=%d", t.dir))
	}
	if t.setsid {
		out = append(out, "s=1")
	}
	if t.setpgid {
		out = append(out, fmt.Sprintf("g=%d", t.pgid))
	}
	return append(append(out, "--", path), argv...)
}

func parseTramp(args []string) (t *trampSpec, path string, argv []string, err error) {
	t = &trampSpec{umask: -1, errFd: -1, prog: -1, dir: -1}
	for i, a := range args {
		if a == "--" {
			if len(args) < i+3 {
				return nil, "", nil, fmt.Errorf("missing program")
			}
			return t, args[i+1], args[i+2:], nil
		}
		k, v, _ := strings.Cut(a, "=")
		nums := func(n int) ([]int, error) {
			parts := strings.SplitN(v, ":", n)
			out := make([]int, len(parts))
			for j, p := range parts {
				x, err := strconv.ParseInt(p, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bad item %q", a)
				}
				out[j] = int(x)
			}
			return out, nil
		}
		switch k {
		case "u":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return nil, "", nil, fmt.Errorf("bad umask %q", v)
			}
			t.umask = int(m)
		case "r":
			parts := strings.Split(v, ":")
			if len(parts) != 3 {
				return nil, "", nil, fmt.Errorf("bad item %q", a)
			}
			res, e1 := strconv.Atoi(parts[0])
			cur, e2 := strconv.ParseUint(parts[1], 10, 64)
			mx, e3 := strconv.ParseUint(parts[2], 10, 64)
			if e1 != nil || e2 != nil || e3 != nil {
				return nil, "", nil, fmt.Errorf("bad item %q", a)
			}
			t.rlimits = append(t.rlimits, Rlimit{res, cur, mx})
		case "c", "e", "l", "d", "s", "g":
			n, err := nums(1)
			if err != nil {
				return nil, "", nil, err
			}
			switch k {
			case "c":
				t.closeLow = append(t.closeLow, n[0])
			case "e":
				t.errFd = n[0]
			case "l":
				t.listen = true
			case "d":
				t.dir = n[0]
			case "s":
				t.setsid = true
			case "g":
				t.setpgid, t.pgid = true, n[0]
			}
		case "pd", "x", "p":
			n, err := nums(2)
			if err != nil || len(n) != 2 {
				return nil, "", nil, fmt.Errorf("bad item %q", a)
			}
			switch k {
			case "pd":
				t.pdeathsig, t.ppid = n[0], n[1]
			case "x":
				t.moves = append(t.moves, [2]int{n[0], n[1]})
			case "p":
				t.prog, t.script = n[0], n[1] == 1
			}
		case "ns":
			c, err := ns.Decode(v)
			if err != nil {
				return nil, "", nil, err
			}
			t.ns = c
		case "cred":
			parts := strings.Split(v, ":")
			if len(parts) != 3 {
				return nil, "", nil, fmt.Errorf("bad item %q", a)
			}
			uid, e1 := strconv.ParseUint(parts[0], 10, 32)
			gid, e2 := strconv.ParseUint(parts[1], 10, 32)
			if e1 != nil || e2 != nil {
				return nil, "", nil, fmt.Errorf("bad item %q", a)
			}
			c := &Cred{Uid: uint32(uid), Gid: uint32(gid)}
			if parts[2] != "" {
				for _, g := range strings.Split(parts[2], ",") {
					x, err := strconv.ParseUint(g, 10, 32)
					if err != nil {
						return nil, "", nil, fmt.Errorf("bad item %q", a)
					}
					c.Groups = append(c.Groups, uint32(x))
				}
			}
			t.cred = c
		default:
			return nil, "", nil, fmt.Errorf("unknown item %q", a)
		}
	}
	return nil, "", nil, fmt.Errorf("missing --")
}

// trampolineMain runs in the child. It returns an exit status only when
// something failed; the failure goes to the parent through errFd.
func trampolineMain(args []string) int {
	// prctl(PR_SET_PDEATHSIG) is per thread and execve keeps the calling
	// thread's value: both must happen on one thread.
	runtime.LockOSThread()
	t, path, argv, err := parseTramp(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire trampoline:", err)
		return 127
	}
	// The report names the spec field whose step failed: "errno field text".
	failAt := func(field string, err error) int {
		if t.errFd >= 0 {
			var en unix.Errno
			if se, ok := err.(*sys.Error); ok {
				en = se.Errno()
			}
			fmt.Fprintf(os.NewFile(uintptr(t.errFd), "trampoline-err"), "%d %s %s", int(en), field, err)
		} else {
			fmt.Fprintln(os.Stderr, "fdwire:", err)
		}
		return 127
	}
	fail := func(err error) int { return failAt("fds", err) }
	if t.errFd >= 0 {
		if err := sys.SetFdFlags(t.errFd, unix.FD_CLOEXEC); err != nil {
			return 127
		}
	}
	// The checked program and directory must not reach the program.
	for _, n := range []int{t.prog, t.dir} {
		if n >= 0 {
			sys.SetFdFlags(n, unix.FD_CLOEXEC)
		}
	}
	if len(t.moves) > 0 {
		if err := applyMoves(t.moves); err != nil {
			return fail(err)
		}
	}
	for _, c := range t.closeLow {
		unix.Close(c)
	}
	// Exec only; the parent checked that these can succeed.
	if t.setsid {
		if err := sys.Setsid(); err != nil {
			return fail(err)
		}
	}
	if t.setpgid {
		if err := sys.Setpgid(t.pgid); err != nil {
			return fail(err)
		}
	}
	if t.ns != nil {
		if err := t.ns.Apply(); err != nil {
			return failAt("isolate", err)
		}
	}
	if t.umask >= 0 {
		sys.Umask(t.umask)
	}
	for _, r := range t.rlimits {
		if err := sys.Setrlimit(r.Resource, r.Cur, r.Max); err != nil {
			return failAt("rlimits", err)
		}
	}
	if c := t.cred; c != nil {
		g := make([]int, len(c.Groups))
		for i, x := range c.Groups {
			g[i] = int(x)
		}
		name := "uid " + strconv.Itoa(int(c.Uid))
		if err := privdrop.Drop(&privdrop.Cred{Name: name, Uid: int(c.Uid), Gid: int(c.Gid), Groups: g}); err != nil {
			return failAt("uid", err)
		}
	}
	if t.pdeathsig != 0 {
		// Set after the uid change, which clears it.
		if err := sys.Prctl(unix.PR_SET_PDEATHSIG, uintptr(t.pdeathsig), "PR_SET_PDEATHSIG"); err != nil {
			return failAt("pdeathsig", err)
		}
		if parentGone(t) {
			return 128 + t.pdeathsig // the parent died before prctl
		}
	}
	if t.dir >= 0 {
		if err := sys.Fchdir(t.dir); err != nil {
			return failAt("cwd", err)
		}
		unix.Close(t.dir)
	}
	if t.listen {
		pid := os.Getpid()
		os.Setenv("LISTEN_PID", strconv.Itoa(pid))
		if id, ok := pidfdID(pid); ok {
			os.Setenv("LISTEN_PIDFDID", strconv.FormatUint(id, 10))
		} else {
			os.Unsetenv("LISTEN_PIDFDID")
		}
	}
	if t.ns != nil {
		if err := t.ns.Finish(); err != nil {
			return failAt("isolate", err)
		}
		return failAt("argv[0]", t.ns.Exec(path, argv, os.Environ()))
	}
	if t.prog >= 0 && !t.script {
		// Exactly the inode the parent checked; close-on-exec (after
		// applyMoves) so the program does not inherit it.
		return failAt("argv[0]", sys.Exec("/proc/self/fd/"+strconv.Itoa(t.prog), argv, os.Environ()))
	}
	return failAt("argv[0]", sys.Exec(path, argv, os.Environ()))
}

// applyMoves places each source at its target, exactly, whatever the
// overlaps: every source is first copied (close-on-exec) above all the
// numbers involved, everything from 3 up is marked close-on-exec, and the
// copies are then put in place without close-on-exec.
func applyMoves(moves [][2]int) error {
	top := 2
	for _, m := range moves {
		top = max(top, m[0], m[1])
	}
	tmp := map[int]int{}
	for _, m := range moves {
		if _, ok := tmp[m[1]]; ok {
			continue
		}
		n, err := sys.DupCloexecMin(m[1], top+1)
		if err != nil {
			return err
		}
		tmp[m[1]] = n
	}
	if err := sys.CloseRangeCloexec(3); err != nil {
		return err
	}
	for _, m := range moves {
		if err := sys.Dup3(tmp[m[1]], m[0], 0); err != nil {
			return err
		}
	}
	return nil
}

// pidfsMagic is PID_FS_MAGIC: pidfds live on pidfs (Linux 6.9+), where
// their inode number identifies the process for its whole life.
const pidfsMagic = 0x50494446

// pidfdID returns the pidfs inode of pid, the value of LISTEN_PIDFDID.
func pidfdID(pid int) (uint64, bool) {
	n, err := sys.PidfdOpen(pid, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(n)
	var fs unix.Statfs_t
	if sys.Fstatfs(n, &fs) != nil || fs.Type != pidfsMagic {
		return 0, false
	}
	var st unix.Stat_t
	if sys.Fstat(n, &st) != nil {
		return 0, false
	}
	return st.Ino, true
}

// readTrampolineError reads the trampoline's report: nothing (EOF at its
// exec) is success.
func readTrampolineError(r *fdio.FD, op, addr string) error {
	n, err := r.Num()
	if err != nil {
		return err
	}
	var buf []byte
	b := make([]byte, 512)
	for {
		k, err := sys.Read(n, b)
		if k > 0 {
			buf = append(buf, b[:k]...)
		}
		if k <= 0 || err != nil {
			break
		}
	}
	if len(buf) == 0 {
		return nil
	}
	code, rest, _ := strings.Cut(string(buf), " ")
	field, msg, _ := strings.Cut(rest, " ")
	en, _ := strconv.Atoi(code)
	msg = "in the child before exec, " + field + ": " + msg
	facts := map[string]any{"field": field}
	if en == 0 {
		return &sys.Error{Op: op, Addr: addr, Err: io.ErrUnexpectedEOF, Hint: msg, Facts: facts}
	}
	return &sys.Error{Op: op, Addr: addr, Err: unix.Errno(en), Hint: msg, Facts: facts, Plain: true}
}

// parentGone reports whether the parent died before the death signal was
// set. A spawned child asks its report pipe (a write end whose reader is
// gone polls POLLERR), which works in a new pid namespace, where getppid
// is 0; an exec'd one compares getppid with the pid it was given.
func parentGone(t *trampSpec) bool {
	if t.errFd >= 0 {
		p := []unix.PollFd{{Fd: int32(t.errFd), Events: unix.POLLOUT}}
		if _, err := sys.Poll(p, 0); err != nil {
			return false
		}
		return p[0].Revents&unix.POLLERR != 0
	}
	return os.Getppid() != t.ppid
}
