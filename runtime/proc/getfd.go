package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// GetFdMode chooses how GetFd copies a descriptor out of another process.
type GetFdMode int

const (
	// GetFdDup uses pidfd_getfd: the copy is the same open file
	// description, so the offset, O_APPEND and O_NONBLOCK are shared with
	// the target. It works for every kind of descriptor. The default.
	GetFdDup GetFdMode = iota
	// GetFdReopen opens /proc/PID/fd/N: a new open file description with
	// its own offset and status flags (same access mode and O_APPEND).
	// Sockets cannot be reopened (ENXIO).
	GetFdReopen
)

// ptraceHint explains EPERM from pidfd_getfd and EACCES from /proc/PID/fd.
const ptraceHint = "taking a descriptor from another process needs ptrace access to it " +
	"(PTRACE_MODE_ATTACH_REALCREDS for pidfd_getfd, PTRACE_MODE_READ for /proc/PID/fd): " +
	"the same real uid and gid as the target and a dumpable target (not setuid, " +
	"no prctl(PR_SET_DUMPABLE, 0)), or CAP_SYS_PTRACE over it; " +
	"Yama's kernel.yama.ptrace_scope can restrict this further"

// GetFd copies descriptor n out of process pid. pidfd may be nil, in
// which case one is opened for pid (a pid can be recycled; prefer a pidfd).
func GetFd(pid int, pidfd *fdio.FD, n int, mode GetFdMode) (*fdio.FD, error) {
	addr := fmt.Sprintf("pid %d fd %d", pid, n)
	if n < 0 {
		return nil, sys.Errorf("getfd", addr, unix.EBADF, "descriptor numbers are not negative")
	}
	if mode == GetFdReopen {
		return reopen(pid, n, addr)
	}
	var pfd int
	if pidfd != nil {
		v, err := pidfd.Num()
		if err != nil {
			return nil, sys.WithHint(err, "the process has been reaped; its pidfd is closed")
		}
		pfd = v
	} else {
		v, err := sys.PidfdOpen(pid, 0)
		if err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil, noProcess(pid, n)
			}
			return nil, err
		}
		defer unix.Close(v)
		pfd = v
	}
	got, err := sys.PidfdGetfd(pfd, n, addr)
	switch {
	case err == nil:
		return fdio.Own(got), nil
	case errors.Is(err, unix.EPERM):
		return nil, sys.WithHint(err, ptraceHint)
	case errors.Is(err, unix.EBADF):
		return nil, sys.WithHint(err, fmt.Sprintf("process %d has no descriptor %d", pid, n))
	case errors.Is(err, unix.ESRCH):
		return nil, sys.WithHint(err, "the process has exited")
	case errors.Is(err, unix.ENOSYS):
		return nil, sys.WithHint(err, "pidfd_getfd needs Linux 5.6 or newer")
	}
	return nil, err
}

// noProcess is the error for a pid with no process behind it.
func noProcess(pid, n int) error {
	return &sys.Error{Op: "getfd", Addr: fmt.Sprintf("pid %d fd %d", pid, n), Err: unix.ESRCH,
		Hint: fmt.Sprintf("there is no process %d (in this pid namespace)", pid), Plain: true}
}

func reopen(pid, n int, addr string) (*fdio.FD, error) {
	base := "/proc/" + strconv.Itoa(pid)
	// A missing /proc/PID is a missing process (ESRCH), not a missing
	// descriptor (EBADF).
	if _, err := os.Stat(base); err != nil && errors.Is(err, unix.ENOENT) {
		return nil, noProcess(pid, n)
	}
	info, err := os.ReadFile(base + "/fdinfo/" + strconv.Itoa(n))
	if err != nil {
		var en unix.Errno
		errors.As(err, &en)
		if en == unix.ENOENT {
			return nil, sys.Errorf("getfd", addr, unix.EBADF, "process %d has no descriptor %d (or has exited)", pid, n)
		}
		if en == unix.EACCES || en == unix.EPERM {
			return nil, sys.Errorf("getfd", addr, en, "%s", ptraceHint)
		}
		return nil, sys.Wrap("getfd", addr, err)
	}
	flags := 0
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			f, _ := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			flags = int(f)
		}
	}
	// Open non-blocking so that a FIFO without a peer cannot hang us, then
	// give our new description the target's blocking mode.
	open := flags&(unix.O_ACCMODE|unix.O_APPEND|unix.O_PATH) | unix.O_NONBLOCK | unix.O_NOCTTY
	fd, err := sys.Openat(unix.AT_FDCWD, base+"/fd/"+strconv.Itoa(n), open, 0)
	switch {
	case errors.Is(err, unix.ENXIO):
		return nil, sys.Errorf("getfd", addr, unix.ENXIO, "a socket cannot be reopened through /proc (there is nothing to open); use mode=\"dup\" (pidfd_getfd) to share it")
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return nil, sys.Errorf("getfd", addr, sys.ErrnoOf(err), "%s", ptraceHint)
	case errors.Is(err, unix.ENOENT):
		return nil, sys.Errorf("getfd", addr, unix.EBADF, "process %d has no descriptor %d (or has exited)", pid, n)
	case err != nil:
		return nil, sys.Wrap("getfd", addr, err)
	}
	f := fdio.Own(fd)
	if flags&unix.O_NONBLOCK == 0 && flags&unix.O_PATH == 0 {
		if err := f.SetNonblock(false); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}
