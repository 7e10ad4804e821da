package sys

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// kcmpFile is KCMP_FILE from linux/kcmp.h (x/sys/unix does not name it).
const kcmpFile = 0

// KcmpFile reports whether descriptor fd1 of pid1 and fd2 of pid2 are the
// same open file description (kcmp(2) KCMP_FILE): the one test that tells
// apart two eventfds, which share a single anonymous inode. The caller
// needs ptrace read access to both processes (CAP_SYS_PTRACE, or the
// same uid without a dumpable restriction). EBADF means one of the
// descriptors is not open; ESRCH that a process is gone.
func KcmpFile(pid1, fd1, pid2, fd2 int) (bool, error) {
	var r uintptr
	err := retry(func() error {
		v, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpFile, uintptr(fd1), uintptr(fd2), 0)
		r = v
		if e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		return false, Wrap("kcmp", "pid "+strconv.Itoa(pid1)+" fd "+strconv.Itoa(fd1)+", pid "+strconv.Itoa(pid2)+" fd "+strconv.Itoa(fd2), err)
	}
	return r == 0, nil
}
