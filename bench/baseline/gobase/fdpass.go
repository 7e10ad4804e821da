package main

// fdpass: NFDS descriptors per message over a unix seqpacket socketpair
// between two processes (this program re-executed as the receiver, its
// end at fd 3), the same protocol as fdpass.c and bench/lua/fdpass.lua:
// the receiver says "r", closes every descriptor it gets, says "d" after
// the last message; the clock runs from "r" to "d".
//
// Modes (the sender and the receiver use the same one):
//
//	block    blocking sendmsg/recvmsg, one close(2) per descriptor (as C)
//	try      MSG_DONTWAIT first, poll(2) only on EAGAIN (as fdwire does)
//	try-cr   try, and the receiver closes each run of consecutive numbers
//	         with one close_range(2)
//	mmsg     try-first sendmmsg/recvmmsg, up to 64 messages per call
//	mmsg-cr  mmsg with close_range runs

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	maxFDs = 253
	batch  = 64
)

type fdmode struct {
	try, mmsg, closeRange bool
}

func parseMode(s string) (fdmode, error) {
	switch s {
	case "block":
		return fdmode{}, nil
	case "try":
		return fdmode{try: true}, nil
	case "try-cr":
		return fdmode{try: true, closeRange: true}, nil
	case "mmsg":
		return fdmode{try: true, mmsg: true}, nil
	case "mmsg-cr":
		return fdmode{try: true, mmsg: true, closeRange: true}, nil
	}
	return fdmode{}, fmt.Errorf("fdpass: unknown mode %q", s)
}

func fdpass(mode string, nfds, nmsgs int) error {
	m, err := parseMode(mode)
	if err != nil {
		return err
	}
	if nfds < 1 || nfds > maxFDs || nmsgs < 1 {
		return fmt.Errorf("fdpass: NFDS is 1..253, NMSGS >= 1")
	}
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	theirs := os.NewFile(uintptr(sv[1]), "socket")
	cmd := exec.Command("/proc/self/exe", "fdpass-recv", mode, strconv.Itoa(nfds), strconv.Itoa(nmsgs))
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	theirs.Close()
	s := sv[0]
	devnull, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	fds := make([]int, nfds)
	for i := range fds {
		fds[i] = devnull
	}
	oob := unix.UnixRights(fds...)
	data := []byte("m")
	var b [1]byte
	if _, err := unix.Read(s, b[:]); err != nil {
		return fmt.Errorf("read ready: %w", err)
	}
	t0 := time.Now()
	if m.mmsg {
		err = sendMany(s, data, oob, nmsgs)
	} else {
		for i := 0; i < nmsgs && err == nil; i++ {
			err = sendOne(s, data, oob, m.try)
		}
	}
	if err != nil {
		return fmt.Errorf("sendmsg: %w", err)
	}
	if _, err := unix.Read(s, b[:]); err != nil {
		return fmt.Errorf("read done: %w", err)
	}
	dt := time.Since(t0).Seconds()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	fmt.Printf("RESULT %.1f %.1f %.6f\n", float64(nmsgs)/dt, float64(nmsgs*nfds)/dt, dt)
	return nil
}

func msghdr(data, oob []byte) unix.Msghdr {
	iov := unix.Iovec{Base: &data[0]}
	iov.SetLen(len(data))
	var h unix.Msghdr
	h.Iov = &iov
	h.Iovlen = 1
	if len(oob) > 0 {
		h.Control = &oob[0]
		h.SetControllen(len(oob))
	}
	return h
}

// sendOne sends one message; try-first uses RawSyscall, as a call with
// MSG_DONTWAIT cannot block.
func sendOne(s int, data, oob []byte, try bool) error {
	h := msghdr(data, oob)
	for {
		var e unix.Errno
		if try {
			_, _, e = unix.RawSyscall(unix.SYS_SENDMSG, uintptr(s), uintptr(unsafe.Pointer(&h)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		} else {
			_, _, e = unix.Syscall(unix.SYS_SENDMSG, uintptr(s), uintptr(unsafe.Pointer(&h)), unix.MSG_NOSIGNAL)
		}
		switch e {
		case 0:
			return nil
		case unix.EAGAIN:
			if err := wait(s, unix.POLLOUT); err != nil {
				return err
			}
		case unix.EINTR:
		default:
			return e
		}
	}
}

func sendMany(s int, data, oob []byte, nmsgs int) error {
	var hs [batch]unix.Mmsghdr
	for i := range hs {
		hs[i].Hdr = msghdr(data, oob)
	}
	for sent := 0; sent < nmsgs; {
		k := min(batch, nmsgs-sent)
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s), uintptr(unsafe.Pointer(&hs[0])), uintptr(k), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			sent += int(n)
		case unix.EAGAIN:
			if err := wait(s, unix.POLLOUT); err != nil {
				return err
			}
		case unix.EINTR:
		default:
			return e
		}
	}
	return nil
}

func wait(s int, ev int16) error {
	p := []unix.PollFd{{Fd: int32(s), Events: ev}}
	for {
		_, err := unix.Poll(p, -1)
		if err != unix.EINTR {
			return err
		}
	}
}

func fdpassRecv(mode string, nfds, nmsgs int) error {
	m, err := parseMode(mode)
	if err != nil {
		return err
	}
	s := 3
	if _, err := unix.Write(s, []byte("r")); err != nil {
		return err
	}
	n := 1
	if m.mmsg {
		n = batch
	}
	datas := make([][]byte, n)
	oobs := make([][]byte, n)
	hs := make([]unix.Mmsghdr, n)
	for i := range hs {
		datas[i] = make([]byte, 4096)
		oobs[i] = make([]byte, unix.CmsgSpace(4*maxFDs))
	}
	reset := func(i int) {
		hs[i].Hdr = msghdr(datas[i], oobs[i])
	}
	got := 0
	for got < nmsgs {
		k := min(n, nmsgs-got)
		for i := 0; i < k; i++ {
			reset(i)
		}
		var r uintptr
		var e unix.Errno
		flags := uintptr(unix.MSG_CMSG_CLOEXEC)
		switch {
		case m.mmsg:
			r, _, e = unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s), uintptr(unsafe.Pointer(&hs[0])), uintptr(k), flags|unix.MSG_DONTWAIT, 0, 0)
		case m.try:
			r, _, e = unix.RawSyscall(unix.SYS_RECVMSG, uintptr(s), uintptr(unsafe.Pointer(&hs[0].Hdr)), flags|unix.MSG_DONTWAIT)
			r = 1
		default:
			r, _, e = unix.Syscall(unix.SYS_RECVMSG, uintptr(s), uintptr(unsafe.Pointer(&hs[0].Hdr)), flags)
			r = 1
		}
		switch e {
		case 0:
		case unix.EAGAIN:
			if err := wait(s, unix.POLLIN); err != nil {
				return err
			}
			continue
		case unix.EINTR:
			continue
		default:
			return e
		}
		for i := 0; i < int(r); i++ {
			h := &hs[i].Hdr
			if h.Flags&unix.MSG_CTRUNC != 0 {
				return fmt.Errorf("MSG_CTRUNC")
			}
			closeRights(oobs[i][:h.Controllen], m.closeRange)
		}
		got += int(r)
	}
	_, err = unix.Write(s, []byte("d"))
	return err
}

// closeRights closes every descriptor of the SCM_RIGHTS messages in oob,
// parsed in place (no allocation); with runs, each run of consecutive
// numbers is one close_range(2).
func closeRights(oob []byte, runs bool) {
	hdr := unix.SizeofCmsghdr
	for len(oob) >= hdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(c.Len)
		if l < hdr || l > len(oob) {
			return
		}
		if c.Level == unix.SOL_SOCKET && c.Type == unix.SCM_RIGHTS {
			n := (l - unix.CmsgLen(0)) / 4
			fds := unsafe.Slice((*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])), n)
			if runs {
				for i := 0; i < n; {
					j := i + 1
					for j < n && fds[j] == fds[j-1]+1 {
						j++
					}
					if j-i == 1 {
						unix.Close(int(fds[i]))
					} else {
						unix.CloseRange(uint(fds[i]), uint(fds[j-1]), 0)
					}
					i = j
				}
			} else {
				for _, fd := range fds {
					unix.Close(int(fd))
				}
			}
		}
		sp := unix.CmsgSpace(l - unix.CmsgLen(0))
		if sp > len(oob) {
			return
		}
		oob = oob[sp:]
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
