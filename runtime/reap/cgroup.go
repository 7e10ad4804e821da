// Package reap makes sure a group of processes is gone: a cgroup v2 with
// cgroup.kill where one can be made, and otherwise a sweep of the
// sessions the group's leaders started (pidfds for signals, the child
// subreaper to reap orphans). The topology engine tears down with it.
package reap

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Group is a cgroup v2 directory this process made for its children.
type Group struct {
	Path string
}

// cgroupRoot finds the cgroup2 mount and this process's cgroup in it,
// with raw syscalls (a first spawn may find the descriptor table full:
// os.Open would set up Go's poller then, which aborts at EMFILE).
func cgroupRoot() (string, error) {
	info, err := sys.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	mount := ""
	for _, line := range strings.Split(string(info), "\n") {
		fields := strings.Fields(line)
		for i, x := range fields {
			if x == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				mount = fields[4]
			}
		}
		if mount != "" {
			break
		}
	}
	if mount == "" {
		return "", sys.Errorf("cgroup", "", unix.ENOENT, "no cgroup2 file system is mounted")
	}
	b, err := sys.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	own := "/"
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	return filepath.Join(mount, own), nil
}

// NewGroup makes a fresh cgroup beside nothing else, under this process's
// own cgroup (so no delegation is needed beyond write access to it). It
// fails when cgroup2 is missing, read-only, or lacks cgroup.kill (before
// Linux 5.14).
func NewGroup(prefix string) (*Group, error) {
	root, err := cgroupRoot()
	if err != nil {
		return nil, err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	p := filepath.Join(root, prefix+"-"+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(p, 0o755); err != nil {
		return nil, sys.Wrap("mkdir", p, unwrap(err))
	}
	if _, err := os.Stat(filepath.Join(p, "cgroup.kill")); err != nil {
		os.Remove(p)
		return nil, sys.WithHint(sys.Wrap("cgroup", p, unix.ENOTSUP), "cgroup.kill needs Linux 5.14 or newer")
	}
	return &Group{Path: p}, nil
}

// Open returns a directory descriptor of the group (for clone3's
// CLONE_INTO_CGROUP), close-on-exec.
func (g *Group) Open() (int, error) {
	return sys.Openat(unix.AT_FDCWD, g.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// Add moves pid into the group.
func (g *Group) Add(pid int) error {
	return g.write("cgroup.procs", strconv.Itoa(pid))
}

// Pids lists the processes in the group. Like Kill and Populated it uses
// raw syscalls, so teardown works with the descriptor table full.
func (g *Group) Pids() []int {
	b, _ := sys.ReadFile(filepath.Join(g.Path, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Kill sends SIGKILL to every process in the group at once.
func (g *Group) Kill() error { return g.write("cgroup.kill", "1") }

// Populated reports whether any process is still in the group.
func (g *Group) Populated() bool {
	b, err := sys.ReadFile(filepath.Join(g.Path, "cgroup.events"))
	if err != nil {
		return false
	}
	return strings.Contains(string(b), "populated 1")
}

// Remove deletes the (empty) group, and the empty groups below it: a
// process in it (a nested fdwire run, say) may have made some and been
// killed before it could remove them, and a cgroup with children cannot
// be removed. Raw syscalls only, as for Kill.
func (g *Group) Remove() error {
	return removeTree(g.Path, 0)
}

func removeTree(path string, depth int) error {
	err := unix.Rmdir(path)
	if err == unix.EBUSY && depth < 32 {
		names, _ := sys.ReadDirNames(path)
		for _, n := range names {
			var st unix.Stat_t
			sub := filepath.Join(path, n)
			if sys.Lstat(sub, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				removeTree(sub, depth+1)
			}
		}
		err = unix.Rmdir(path)
	}
	if err != nil && err != unix.ENOENT {
		return sys.Wrap("rmdir", path, err)
	}
	return nil
}

// End kills whatever is in the group (and the groups below it: cgroup.kill
// takes the whole subtree), waits up to about tries*5 ms for it to empty,
// and removes it.
func (g *Group) End(tries int) error {
	if g.Populated() {
		g.Kill()
		for i := 0; i < tries && g.Populated(); i++ {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return g.Remove()
}

func (g *Group) write(file, v string) error {
	p := filepath.Join(g.Path, file)
	fd, err := sys.Openat(unix.AT_FDCWD, p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer sys.Close(fd)
	if _, err := sys.Write(fd, []byte(v)); err != nil {
		return sys.WithHint(err, p)
	}
	return nil
}

func unwrap(err error) error {
	switch e := err.(type) {
	case *os.PathError:
		return e.Err
	case *os.SyscallError:
		return e.Err
	}
	return err
}
