// Package diag reads what the kernel says about other processes'
// descriptors: /proc/PID/fd and fdinfo, and unix socket connections
// through sock_diag (UNIX_DIAG_PEER) with /proc/net/unix as a fallback.
// The topology engine uses it to check a live system against its spec.
package diag

import (
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Fd is one descriptor of another process, as /proc shows it.
type Fd struct {
	Num  int
	Link string // readlink of /proc/PID/fd/N: "pipe:[123]", "socket:[456]", a path
	Dev  uint64
	Ino  uint64
	// Access is "r", "w" or "rw" from the fdinfo flags (O_ACCMODE).
	Access string
	// Kind is pipe, socket, file, dir, anon or other.
	Kind string
}

// ProcFds lists the descriptors of pid in numeric order. A descriptor
// closed while the list is read is left out.
func ProcFds(pid int) ([]Fd, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, sys.Wrap("procfds", "pid "+strconv.Itoa(pid), unwrapErrno(err))
	}
	out := make([]Fd, 0, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := statFd(pid, n)
		if ok {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out, nil
}

// ProcFd describes one descriptor of pid; ok is false when it is not open.
func ProcFd(pid, n int) (Fd, bool) { return statFd(pid, n) }

func statFd(pid, n int) (Fd, bool) {
	p := "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(n)
	link, err := os.Readlink(p)
	if err != nil {
		return Fd{}, false
	}
	f := Fd{Num: n, Link: link}
	var st unix.Stat_t
	if unix.Stat(p, &st) == nil {
		f.Dev, f.Ino = uint64(st.Dev), st.Ino
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFIFO:
			f.Kind = "pipe"
		case unix.S_IFSOCK:
			f.Kind = "socket"
		case unix.S_IFDIR:
			f.Kind = "dir"
		case unix.S_IFREG:
			f.Kind = "file"
		default:
			f.Kind = "other"
		}
	} else if strings.HasPrefix(link, "anon_inode:") {
		f.Kind = "anon"
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/fdinfo/" + strconv.Itoa(n)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				fl, _ := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				switch fl & unix.O_ACCMODE {
				case unix.O_RDONLY:
					f.Access = "r"
				case unix.O_WRONLY:
					f.Access = "w"
				default:
					f.Access = "rw"
				}
			}
		}
	}
	return f, true
}

func unwrapErrno(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
