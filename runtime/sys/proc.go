package sys

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// This file holds the process-related wrappers used by runtime/proc:
// descriptor moves for exec, credentials, limits, and reaping.

// Dup3 duplicates oldfd onto newfd (flags 0 or O_CLOEXEC).
func Dup3(oldfd, newfd, flags int) error {
	return Wrap("dup3", FdAddr(oldfd), retry(func() error { return unix.Dup3(oldfd, newfd, flags) }))
}

// DupCloexecMin duplicates fd to the lowest free number >= min, close-on-exec.
func DupCloexecMin(fd, min int) (int, error) {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, min)
	return n, Wrap("dup", FdAddr(fd), err)
}

// Umask sets the file mode creation mask and returns the old one.
func Umask(mask int) int { return unix.Umask(mask) }

// Setrlimit sets a resource limit of this process. It goes through the
// syscall package so that Go's own saved RLIMIT_NOFILE is forgotten and a
// later exec keeps the value set here.
func Setrlimit(resource int, cur, max uint64) error {
	return Wrap("setrlimit", RlimitName(resource), syscall.Setrlimit(resource, &syscall.Rlimit{Cur: cur, Max: max}))
}

// Getrlimit reads a resource limit of this process.
func Getrlimit(resource int) (cur, max uint64, err error) {
	var r unix.Rlimit
	err = unix.Getrlimit(resource, &r)
	return r.Cur, r.Max, Wrap("getrlimit", RlimitName(resource), err)
}

// Setgroups, Setgid and Setuid change credentials on every thread of this
// process (Go runs them on all threads).
func Setgroups(gids []int) error { return Wrap("setgroups", "", syscall.Setgroups(gids)) }

// Setgid sets the real, effective and saved group id.
func Setgid(gid int) error { return Wrap("setgid", itoa(gid), syscall.Setgid(gid)) }

// Setuid sets the real, effective and saved user id.
func Setuid(uid int) error { return Wrap("setuid", itoa(uid), syscall.Setuid(uid)) }

// Exec replaces this process's program.
func Exec(path string, argv, env []string) error {
	return Wrap("execve", path, syscall.Exec(path, argv, env))
}

// Kill sends sig to pid (only for processes without a pidfd: orphans).
func Kill(pid int, sig unix.Signal) error {
	return Wrap("kill", pidAddr(pid), unix.Kill(pid, sig))
}

// WaitidAnyNowait reports an exited child, any child, without reaping it;
// pid 0 means none has exited.
func WaitidAnyNowait() (int, error) {
	var info unix.Siginfo
	err := retry(func() error {
		return unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	})
	if err != nil {
		return 0, Wrap("waitid", "", err)
	}
	pid, _, _ := SiginfoChild(&info)
	return pid, nil
}

// Reap reaps pid, which must have exited.
func Reap(pid int) error {
	var info unix.Siginfo
	return Wrap("waitid", pidAddr(pid), retry(func() error {
		return unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil)
	}))
}

// Fstatfs reads the file system type of fd.
func Fstatfs(fd int, st *unix.Statfs_t) error {
	return Wrap("fstatfs", FdAddr(fd), unix.Fstatfs(fd, st))
}

// rlimitNames are the names used in error messages and in Lua, indexed
// by resource number (RLIMIT_CPU is 0 ... RLIMIT_RTTIME 15). An array, not
// a map: runtime/ keeps no package-level maps (issue 13).
var rlimitNames = [...]string{
	unix.RLIMIT_AS: "as", unix.RLIMIT_CORE: "core", unix.RLIMIT_CPU: "cpu",
	unix.RLIMIT_DATA: "data", unix.RLIMIT_FSIZE: "fsize", unix.RLIMIT_LOCKS: "locks",
	unix.RLIMIT_MEMLOCK: "memlock", unix.RLIMIT_MSGQUEUE: "msgqueue", unix.RLIMIT_NICE: "nice",
	unix.RLIMIT_NOFILE: "nofile", unix.RLIMIT_NPROC: "nproc", unix.RLIMIT_RSS: "rss",
	unix.RLIMIT_RTPRIO: "rtprio", unix.RLIMIT_RTTIME: "rttime", unix.RLIMIT_SIGPENDING: "sigpending",
	unix.RLIMIT_STACK: "stack",
}

// RlimitName names a resource ("nofile"), or gives its number.
func RlimitName(r int) string {
	if r >= 0 && r < len(rlimitNames) && rlimitNames[r] != "" {
		return rlimitNames[r]
	}
	return "resource " + itoa(r)
}

// RlimitByName maps "nofile", "NOFILE" or "RLIMIT_NOFILE" to its number.
func RlimitByName(s string) (int, bool) {
	for len(s) > 7 && (s[:7] == "RLIMIT_" || s[:7] == "rlimit_") {
		s = s[7:]
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	for r, n := range rlimitNames {
		if n != "" && n == string(b) {
			return r, true
		}
	}
	return 0, false
}

// ErrnoOf returns the errno inside err, or 0.
func ErrnoOf(err error) unix.Errno {
	var en unix.Errno
	errors.As(err, &en)
	return en
}
