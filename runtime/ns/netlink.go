package ns

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// LoopbackUp sets IFF_UP on "lo" (always index 1 in a new network
// namespace) with one RTM_NEWLINK request over rtnetlink, and waits for
// the kernel's acknowledgement.
func LoopbackUp() error {
	fd, err := sys.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer sys.Close(fd)
	const hdr = unix.SizeofNlMsghdr
	msg := make([]byte, hdr+unix.SizeofIfInfomsg)
	nh := (*unix.NlMsghdr)(unsafe.Pointer(&msg[0]))
	nh.Len = uint32(len(msg))
	nh.Type = unix.RTM_NEWLINK
	nh.Flags = unix.NLM_F_REQUEST | unix.NLM_F_ACK
	nh.Seq = 1
	ifi := (*unix.IfInfomsg)(unsafe.Pointer(&msg[hdr]))
	ifi.Family = unix.AF_UNSPEC
	ifi.Index = 1
	ifi.Flags = unix.IFF_UP
	ifi.Change = unix.IFF_UP
	if _, err := sys.Sendmsg(fd, msg, nil, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}, 0); err != nil {
		return sys.WithHint(err, "bringing loopback up in the new network namespace")
	}
	buf := make([]byte, 4096)
	n, err := sys.Recv(fd, buf, 0)
	if err != nil {
		return sys.WithHint(err, "bringing loopback up in the new network namespace")
	}
	if n < hdr+4 {
		return sys.Errorf("rtnetlink RTM_NEWLINK", "lo", unix.EPROTO, "short reply (%d bytes)", n)
	}
	rh := (*unix.NlMsghdr)(unsafe.Pointer(&buf[0]))
	if rh.Type == unix.NLMSG_ERROR {
		if code := int32(binary.NativeEndian.Uint32(buf[hdr:])); code != 0 {
			return sys.Errorf("rtnetlink RTM_NEWLINK", "lo", unix.Errno(-code), "bringing loopback up in the new network namespace (needs CAP_NET_ADMIN there)")
		}
	}
	return nil
}
