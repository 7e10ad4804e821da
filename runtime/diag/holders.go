package diag

import (
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Holder is one descriptor, of some process, that refers to a given
// file, pipe or socket.
type Holder struct {
	Pid    int
	Comm   string
	Fd     int
	Access string // r, w, rw
}

// Key identifies a file, pipe or socket: its device and inode.
type Key struct{ Dev, Ino uint64 }

// Index maps every (dev, inode) to the descriptors that hold it, across
// the processes whose /proc/PID/fd this process may read.
type Index struct {
	ByKey map[Key][]Holder
	Comm  map[int]string
}

// Comm is the command name of pid (/proc/PID/comm), "" if it is gone.
func Comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Pids lists every process id in /proc.
func Pids() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, sys.Wrap("readdir", "/proc", unwrapErrno(err))
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

// NewIndex reads the descriptors of pids (every process when pids is
// nil). Processes it may not read, or that exit meanwhile, are skipped.
func NewIndex(pids []int) *Index {
	if pids == nil {
		pids, _ = Pids()
	}
	ix := &Index{ByKey: map[Key][]Holder{}, Comm: map[int]string{}}
	for _, pid := range pids {
		fds, err := ProcFds(pid)
		if err != nil {
			continue
		}
		comm := Comm(pid)
		ix.Comm[pid] = comm
		for _, f := range fds {
			if f.Ino == 0 {
				continue
			}
			k := Key{f.Dev, f.Ino}
			ix.ByKey[k] = append(ix.ByKey[k], Holder{Pid: pid, Comm: comm, Fd: f.Num, Access: f.Access})
		}
	}
	return ix
}

// Others lists the holders of k other than descriptor fd of pid.
func (ix *Index) Others(k Key, pid, fd int) []Holder {
	var out []Holder
	for _, h := range ix.ByKey[k] {
		if h.Pid != pid || h.Fd != fd {
			out = append(out, h)
		}
	}
	return out
}

// SameDescription reports whether two descriptors share one open file
// description (offset, status flags), through kcmp; ok is false when the
// kernel will not say (no CONFIG_KCMP, or no ptrace access to a pid).
func SameDescription(pid1, fd1, pid2, fd2 int) (same, ok bool) {
	same, err := SameFile(pid1, fd1, pid2, fd2)
	return same, err == nil
}

// drop forgets every descriptor of pid.
func (ix *Index) drop(pid int) {
	for k, hs := range ix.ByKey {
		out := hs[:0]
		for _, h := range hs {
			if h.Pid != pid {
				out = append(out, h)
			}
		}
		ix.ByKey[k] = out
	}
	delete(ix.Comm, pid)
}
