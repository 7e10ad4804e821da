package reap

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Stat is the part of /proc/PID/stat the sweep needs.
type Stat struct {
	Pid, Ppid, Pgrp, Session int
	State                    string
	Comm                     string
	// Exiting is PF_EXITING: the process is in exit(2), its descriptors
	// already (or about to be) closed, but it is not a zombie yet.
	Exiting bool
}

// pfExiting is PF_EXITING in the flags field of /proc/PID/stat.
const pfExiting = 0x4

// ReadStat reads /proc/PID/stat (raw syscalls: it runs at teardown, see
// sys.ReadFile).
func ReadStat(pid int) (Stat, bool) {
	b, err := sys.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	s := string(b)
	l, r := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if l < 0 || r < l {
		return Stat{}, false
	}
	f := strings.Fields(s[r+1:])
	if len(f) < 4 {
		return Stat{}, false
	}
	st := Stat{Pid: pid, Comm: s[l+1 : r], State: f[0]}
	st.Ppid, _ = strconv.Atoi(f[1])
	st.Pgrp, _ = strconv.Atoi(f[2])
	st.Session, _ = strconv.Atoi(f[3])
	if len(f) > 6 {
		flags, _ := strconv.ParseUint(f[6], 10, 64)
		st.Exiting = flags&pfExiting != 0
	}
	return st, true
}

// SessionMembers lists live processes whose session is sid (the pid of
// a session leader this process started with setsid), except sid itself.
func SessionMembers(sid int) []Stat {
	ents, _ := sys.ReadDirNames("/proc")
	var out []Stat
	for _, e := range ents {
		pid, err := strconv.Atoi(e)
		if err != nil || pid == sid {
			continue
		}
		if st, ok := ReadStat(pid); ok && st.Session == sid && st.State != "Z" {
			out = append(out, st)
		}
	}
	return out
}

// Signal sends sig to pid through a pidfd, so a recycled pid is never hit
// once the pidfd is open. A process already gone is not an error.
func Signal(pid int, sig unix.Signal) error {
	n, err := sys.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return err
	}
	defer sys.Close(n)
	err = sys.PidfdSendSignal(n, sig, "pid "+strconv.Itoa(pid))
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

// ReapIfOrphan reaps pid when it is a zombie child of this process (an
// orphan reparented to us as subreaper) and reports whether it did. The
// caller must know pid is not a child someone waits for by pidfd (a
// Reaper checks with its owners; the topology engine passes strays only).
func ReapIfOrphan(pid int) bool {
	st, ok := ReadStat(pid)
	if !ok || st.Ppid != os.Getpid() || st.State != "Z" {
		return false
	}
	return sys.Reap(pid) == nil
}

// SetSubreaper makes this process the reaper of its descendants' orphans,
// so processes that outlive their parent stay reachable for the sweep.
func SetSubreaper() error {
	return sys.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")
}
