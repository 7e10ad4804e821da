package reap

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// The warden. When fdwire is killed with SIGKILL nothing in it runs, and
// the kernel's death signal reaches only its direct children: the run's
// directories, socket files and cgroups (and the processes in those
// cgroups) would stay. So before the first such thing is made, fdwire
// starts a warden: this same binary with argv[0] WardenArg0, in a session
// of its own, with no death signal. fdwire tells it over a pipe what it
// made and what it has removed again; the warden holds a pidfd of fdwire
// and, when fdwire ends without having said "done", kills what is left in
// the cgroups, removes them, and removes the directories and files (only
// while they are still the inodes that were made). A clean exit says
// "done" and ends the warden, so nothing is left either way.

// WardenArg0 marks a warden run in argv[0].
const WardenArg0 = "fdwire-warden"

// Warden is the parent's side of the warden.
type Warden struct {
	mu     sync.Mutex
	exe    string
	reaper *Reaper
	pidfd  int
	w      int // write end of the pipe, -1 until started
	err    error
	ended  bool
}

// NewWarden prepares a warden run from exe (an fdwire binary; the CLI
// passes /proc/self/exe); it starts at the first Watch. r, when set, is
// this process's Reaper: the warden's session is spared by it, so the
// warden is not ended as an orphan before this process is done.
func NewWarden(exe string, r *Reaper) *Warden { return &Warden{exe: exe, reaper: r, w: -1, pidfd: -1} }

// start runs the warden (w.mu held).
func (w *Warden) start() error {
	if w.w >= 0 || w.err != nil {
		return w.err
	}
	r, wr, err := sys.Pipe2(unix.O_CLOEXEC)
	if err != nil {
		w.err = err
		return err
	}
	null, err := sys.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		sys.Close(r)
		sys.Close(wr)
		w.err = err
		return err
	}
	pidfd := -1
	attr := &syscall.ProcAttr{
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(2), uintptr(r)},
		Sys:   &syscall.SysProcAttr{Setsid: true, PidFD: &pidfd},
	}
	pid, err := syscall.ForkExec(w.exe, []string{WardenArg0, strconv.Itoa(os.Getpid())}, attr)
	sys.Close(r)
	sys.Close(null)
	if err != nil {
		sys.Close(wr)
		w.err = sys.Wrap("start warden", w.exe, err)
		return w.err
	}
	if pidfd < 0 {
		if pidfd, err = sys.PidfdOpen(pid, 0); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			sys.WaitPid(pid)
			sys.Close(wr)
			w.err = err
			return err
		}
	}
	if w.reaper != nil {
		w.reaper.Spare(pid) // its own session
	}
	w.pidfd, w.w = pidfd, wr
	return nil
}

func (w *Warden) send(line string) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return nil
	}
	if err := w.start(); err != nil {
		return err
	}
	_, err := sys.Write(w.w, []byte(line+"\n"))
	return err
}

// Watch tells the warden about something made: kind is "dir" (removed
// with everything in it), "file" (unlinked) or "cgroup" (killed, then
// removed). The inode is taken now; the warden leaves the path alone if it
// names another one by then. A nil Warden does nothing.
func (w *Warden) Watch(kind, path string) error {
	var st unix.Stat_t
	if err := sys.Lstat(path, &st); err != nil {
		return err
	}
	return w.send(fmt.Sprintf("+ %s %d %d %s", kind, st.Dev, st.Ino, path))
}

// Unwatch tells the warden the path was removed (or handed on).
func (w *Warden) Unwatch(path string) { w.send("- " + path) }

// Close says "done" and waits for the warden to exit; nothing is watched
// any more.
func (w *Warden) Close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
	w.stopLocked()
}

// Pause lets the current warden go (before this process execs: the new
// program knows nothing of it); a later Watch starts a new one.
func (w *Warden) Pause() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopLocked()
}

// stopLocked says "done" and ends the warden: after "done" it has
// nothing to do, so it is killed rather than waited for (it may still be
// starting up); through its pidfd, since the Reaper may have reaped it.
func (w *Warden) stopLocked() {
	if w.w < 0 {
		return
	}
	sys.Write(w.w, []byte("done\n"))
	sys.Close(w.w)
	sys.PidfdSendSignal(w.pidfd, unix.SIGKILL, "warden")
	var info unix.Siginfo
	sys.WaitidPidfd(w.pidfd, &info, unix.WEXITED, "warden")
	sys.Close(w.pidfd)
	w.w, w.pidfd = -1, -1
}

type watched struct {
	kind     string
	dev, ino uint64
}

// RunWarden must be called at the very start of main: in a warden run it
// does the warden's work and exits; otherwise it returns.
func RunWarden() {
	if len(os.Args) < 2 || os.Args[0] != WardenArg0 {
		return
	}
	// Its name, for ps and for a subreaper that finds it as a zombie
	// (an exec of /proc/self/exe is named "exe"): the process's name is
	// its main thread's, which the main goroutine still runs on here.
	runtime.LockOSThread()
	if unix.Gettid() == os.Getpid() {
		b := append([]byte(WardenArg0), 0)
		sys.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), "PR_SET_NAME")
	}
	runtime.UnlockOSThread()
	os.Exit(wardenMain(os.Args[1]))
}

func wardenMain(ppidArg string) int {
	ppid, err := strconv.Atoi(ppidArg)
	if err != nil {
		return 2
	}
	pidfd, perr := sys.PidfdOpen(ppid, 0)
	items := map[string]watched{}
	var mu sync.Mutex
	said := make(chan struct{}) // "done": a clean exit, nothing to do
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(os.NewFile(3, "warden"))
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 5)
			mu.Lock()
			switch {
			case len(f) == 1 && f[0] == "done":
				close(said)
				mu.Unlock()
				return
			case len(f) == 5 && f[0] == "+":
				dev, _ := strconv.ParseUint(f[2], 10, 64)
				ino, _ := strconv.ParseUint(f[3], 10, 64)
				items[f[4]] = watched{f[1], dev, ino}
			case len(f) >= 2 && f[0] == "-":
				delete(items, strings.TrimPrefix(sc.Text(), "- "))
			}
			mu.Unlock()
		}
		// EOF without "done": fdwire died, or exec'd into another program
		// (which keeps the pid); the pidfd tells which.
	}()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		if perr != nil || os.Getppid() != ppid {
			return // gone before we could watch it
		}
		p := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			if _, err := sys.Poll(p, -1); err != nil || p[0].Revents != 0 {
				return
			}
		}
	}()
	select {
	case <-said:
		return 0
	case <-ended:
	}
	<-eof // what fdwire wrote before it died is still in the pipe
	mu.Lock()
	defer mu.Unlock()
	select {
	case <-said:
		return 0
	default:
	}
	for path, it := range items { // cgroups first: their processes use the rest
		if it.kind == "cgroup" && sameInode(path, it.dev, it.ino) {
			g := &Group{Path: path}
			spareWardens(g)
			g.End(1000)
		}
	}
	for path, it := range items {
		if !sameInode(path, it.dev, it.ino) {
			continue
		}
		switch it.kind {
		case "dir":
			os.RemoveAll(path)
		case "file":
			os.Remove(path)
		}
	}
	return 0
}

func sameInode(path string, dev, ino uint64) bool {
	var st unix.Stat_t
	return sys.Lstat(path, &st) == nil && st.Dev == dev && st.Ino == ino
}

// wardenGrace bounds how long a nested run's warden gets to clean up
// after its own fdwire before our group (and it) is killed.
const wardenGrace = 3 * time.Second

// spareWardens: a nested run (an fdwire that one of our children is, or
// started) has a warden of its own in our group, which cleans up after
// that run as we do after ours: its run directories and socket files are
// not ours to know. cgroup.kill would kill it mid-work. So when the group
// holds a warden, everything else in it is killed first, one by one, and
// the wardens get up to wardenGrace to finish before the group goes. (A
// process can only delay its end this way, by calling itself a warden.)
func spareWardens(g *Group) {
	hasWarden := false
	for _, pid := range g.treePids(0) {
		hasWarden = hasWarden || isWarden(pid)
	}
	if !hasWarden {
		return // cgroup.kill does it all at once
	}
	for deadline := time.Now().Add(wardenGrace); time.Now().Before(deadline); {
		left := 0
		for _, pid := range g.treePids(0) {
			left++
			if !isWarden(pid) {
				killIn(g, pid)
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// treePids lists the processes of g and of the groups below it.
func (g *Group) treePids(depth int) []int {
	out := g.Pids()
	if depth >= 32 {
		return out
	}
	names, _ := sys.ReadDirNames(g.Path)
	for _, n := range names {
		sub := &Group{Path: filepath.Join(g.Path, n)}
		var st unix.Stat_t
		if sys.Lstat(sub.Path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			out = append(out, sub.treePids(depth+1)...)
		}
	}
	return out
}

// isWarden reports whether pid runs as a warden (argv[0] WardenArg0).
func isWarden(pid int) bool {
	b, _ := sys.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.HasPrefix(string(b), WardenArg0+"\x00")
}

// killIn sends SIGKILL to pid through a pidfd, once the pidfd is known to
// name a process still inside g (a recycled pid is left alone: while the
// pidfd is open and the process runs, /proc/PID is that process).
func killIn(g *Group, pid int) {
	rel, ok := g.rel()
	if !ok {
		return
	}
	fd, err := sys.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer sys.Close(fd)
	b, _ := sys.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && (p == rel || strings.HasPrefix(p, rel+"/")) {
			sys.PidfdSendSignal(fd, unix.SIGKILL, "")
		}
	}
}

// rel is the group's path as /proc/PID/cgroup shows it, for a group made
// under this process's own cgroup (NewGroup's, and so the warden's,
// which runs in fdwire's).
func (g *Group) rel() (string, bool) {
	root, err := cgroupRoot()
	if err != nil {
		return "", false
	}
	b, _ := sys.ReadFile("/proc/self/cgroup")
	own := ""
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	sub, ok := strings.CutPrefix(g.Path, root+"/")
	if own == "" || !ok {
		return "", false
	}
	return filepath.Join(own, sub), true
}
