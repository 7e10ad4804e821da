package diag

import (
	"debug/elf"
	"os"
	"strconv"

	"github.com/fdwire/fdwire/runtime/sys"
)

// SameFile reports whether descriptor fd1 of pid1 and fd2 of pid2 are one
// open file description (kcmp KCMP_FILE). Two descriptors of one
// description share the file offset and the status flags (O_NONBLOCK):
// that, not the inode, is what "the same descriptor" means. Anonymous
// inodes (every eventfd, signalfd, epoll and timerfd of the system share
// one) make device and inode useless for this.
func SameFile(pid1, fd1, pid2, fd2 int) (bool, error) {
	return sys.KcmpFile(pid1, fd1, pid2, fd2)
}

// SameAsOwn is SameFile against a descriptor of this process.
func SameAsOwn(pid, fd, own int) (bool, error) {
	return sys.KcmpFile(pid, fd, os.Getpid(), own)
}

// GoProgram reports whether pid runs a Go program: its executable has the
// .go.buildinfo section every Go linker since 1.13 writes. verify's
// strict mode uses it to know which descriptors the process's own
// runtime opened (see stdlib/lua/topo/verify.lua).
func GoProgram(pid int) (bool, error) {
	f, err := elf.Open("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false, sys.Wrap("elf", "pid "+strconv.Itoa(pid), unwrapErrno(err))
	}
	defer f.Close()
	return f.Section(".go.buildinfo") != nil, nil
}
