package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// PidfdInfo is struct pidfd_info (linux/pidfd.h, Linux 6.13+; exit
// information 6.15+), as far as fdwire reads it.
type PidfdInfo struct {
	Mask     uint64
	CgroupID uint64
	Pid      uint32
	Tgid     uint32
	Ppid     uint32
	Ruid     uint32
	Rgid     uint32
	Euid     uint32
	Egid     uint32
	Suid     uint32
	Sgid     uint32
	Fsuid    uint32
	Fsgid    uint32
	ExitCode int32
}

// PIDFD_INFO_* request and report bits.
const (
	PidfdInfoPid      = 1 << 0
	PidfdInfoCreds    = 1 << 1
	PidfdInfoCgroupID = 1 << 2
	PidfdInfoExit     = 1 << 3
)

// pidfdGetInfo is PIDFD_GET_INFO, _IOWR(0xFF, 11, struct pidfd_info) with
// the 64-byte struct above (the kernel accepts any size it knows).
const pidfdGetInfo = 0xC0000000 | 64<<16 | 0xFF<<8 | 11

// PidfdGetInfo asks the kernel about the process behind pidfd. With
// PidfdInfoExit it also answers for a process that has exited and been
// reaped (Linux 6.15+): then the cgroup id is the one it died in. ENOTTY
// means the kernel has no PIDFD_GET_INFO (before 6.13); ESRCH that the
// process is gone and no exit information was asked for or kept.
func PidfdGetInfo(pidfd int, mask uint64) (*PidfdInfo, error) {
	info := &PidfdInfo{Mask: mask}
	err := retry(func() error {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(pidfd), pidfdGetInfo, uintptr(unsafe.Pointer(info)))
		if e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		return nil, wrapFd("PIDFD_GET_INFO", pidfd, err)
	}
	return info, nil
}
