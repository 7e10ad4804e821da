package sys

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// The readers below are for teardown, which must work with the descriptor
// table full: they use one descriptor at a time and never touch Go's
// poller (os.Open does, and the poller's first use needs descriptors of
// its own: with none free, Go aborts with "netpollinit failed").

// ReadFile reads a whole (small, /proc) file with raw syscalls.
func ReadFile(path string) ([]byte, error) {
	fd, err := Openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := Read(fd, buf)
		if n > 0 {
			out = append(out, buf[:n]...)
		}
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
	}
}

// ReadDirNames lists the names in a directory (without . and ..) with raw
// syscalls.
func ReadDirNames(path string) ([]string, error) {
	fd, err := Openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := retryFd(func() (int, error) { return unix.Getdents(fd, buf) })
		if err != nil {
			return names, Wrap("getdents", path, err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
}

// Faccessat checks access to path relative to dirfd (AT_EACCESS: with the
// effective ids, as execve does; AT_EMPTY_PATH with path "": dirfd itself).
func Faccessat(dirfd int, path string, mode uint32, flags int) error {
	return Wrap("faccessat", path, retry(func() error { return unix.Faccessat2(dirfd, path, mode, flags) }))
}

// Setresuid and Setresgid set the real, effective and saved ids on every
// thread of this process (Go runs them on all threads).
func Setresuid(uid int) error {
	return Wrap("setresuid", itoa(uid), syscall.Setresuid(uid, uid, uid))
}

// Setresgid: see Setresuid.
func Setresgid(gid int) error {
	return Wrap("setresgid", itoa(gid), syscall.Setresgid(gid, gid, gid))
}

// Getpgrp returns this process's process group.
func Getpgrp() int { return unix.Getpgrp() }

// Setsid makes this process a session leader.
func Setsid() error {
	_, err := unix.Setsid()
	return Wrap("setsid", "", err)
}

// Setpgid moves this process into group pgid (0: its own).
func Setpgid(pgid int) error { return Wrap("setpgid", itoa(pgid), unix.Setpgid(0, pgid)) }

// WaitPid reaps pid, blocking until it has exited.
func WaitPid(pid int) error {
	var info unix.Siginfo
	return Wrap("waitid", pidAddr(pid), retry(func() error {
		return unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED, nil)
	}))
}

// Pread reads from fd at offset off.
func Pread(fd int, p []byte, off int64) (int, error) {
	n, err := retryFd(func() (int, error) { return unix.Pread(fd, p, off) })
	return n, wrapFd("pread", fd, err)
}
