package reap

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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
// "done" and waits for the warden, so nothing is left either way.

// WardenArg0 marks a warden run in argv[0].
const WardenArg0 = "fdwire-warden"

// Warden is the parent's side of the warden.
type Warden struct {
	mu    sync.Mutex
	exe   string
	pid   int
	w     int // write end of the pipe, -1 until started
	err   error
	ended bool
}

// NewWarden prepares a warden run from exe (an fdwire binary; the CLI
// passes /proc/self/exe); it starts at the first Watch.
func NewWarden(exe string) *Warden { return &Warden{exe: exe, w: -1} }

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
	attr := &syscall.ProcAttr{
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(2), uintptr(r)},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	pid, err := syscall.ForkExec(w.exe, []string{WardenArg0, strconv.Itoa(os.Getpid())}, attr)
	sys.Close(r)
	sys.Close(null)
	if err != nil {
		sys.Close(wr)
		w.err = sys.Wrap("start warden", w.exe, err)
		return w.err
	}
	w.pid, w.w = pid, wr
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

func (w *Warden) stopLocked() {
	if w.w < 0 {
		return
	}
	sys.Write(w.w, []byte("done\n"))
	sys.Close(w.w)
	sys.WaitPid(w.pid)
	w.w, w.pid = -1, 0
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
			if g.Populated() {
				g.Kill()
				for i := 0; i < 1000 && g.Populated(); i++ {
					time.Sleep(5 * time.Millisecond)
				}
			}
			g.Remove()
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
