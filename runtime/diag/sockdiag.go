package diag

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// dumpSockDiag sends one NETLINK_SOCK_DIAG dump request and calls each
// with the payload of every answer until NLMSG_DONE; what ("unix", "tcp")
// names the dump in errors. One loop for every family, so the end of a
// dump and the kernel's error answer are read the same way everywhere.
func dumpSockDiag(what string, req []byte, each func(data []byte)) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return sys.Wrap("sock_diag", what, err)
	}
	defer unix.Close(s)
	if err := unix.Sendto(s, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return sys.Wrap("sock_diag", what, err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return sys.Wrap("sock_diag", what, err)
		}
		for _, m := range parseNetlink(buf[:n]) {
			switch m.typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.data) >= 4 {
					if code := int32(binary.LittleEndian.Uint32(m.data)); code < 0 {
						return sys.Wrap("sock_diag", what, unix.Errno(-code))
					}
				}
				return nil
			}
			each(m.data)
		}
	}
}
