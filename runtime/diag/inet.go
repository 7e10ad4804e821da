package diag

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"
)

// InetSock is what inet_diag says about one TCP socket.
type InetSock struct {
	Ino           uint64 // 0 for a connection still in a listener's queue
	State         string // listen, established, syn-recv, ...
	Local, Remote netip.AddrPort
}

// tcpStateNames are indexed by TCP_* state (an array: runtime/ keeps no
// package-level maps, issue 13).
var tcpStateNames = [...]string{1: "established", 2: "syn-sent", 3: "syn-recv", 4: "fin-wait1",
	5: "fin-wait2", 6: "time-wait", 7: "close", 8: "close-wait", 9: "last-ack", 10: "listen", 11: "closing"}

// TCPSockets lists the TCP sockets of this network namespace, IPv4 and
// IPv6, from sock_diag (inet_diag_req_v2 with every state).
func TCPSockets() ([]InetSock, error) {
	var out []InetSock
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		s, err := tcpDiag(fam)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

func tcpDiag(family uint8) ([]InetSock, error) {
	// nlmsghdr (16) + inet_diag_req_v2 (56)
	req := make([]byte, 72)
	le := binary.LittleEndian
	le.PutUint32(req[0:], 72)
	le.PutUint16(req[4:], sockDiagByFamily)
	le.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	le.PutUint32(req[8:], 1)
	req[16] = family
	req[17] = unix.IPPROTO_TCP
	le.PutUint32(req[20:], 0xffffffff) // every state
	var out []InetSock
	err := dumpSockDiag("tcp", req, func(d []byte) {
		// inet_diag_msg: family, state, timer, retrans, then
		// inet_diag_sockid (ports big-endian, 16-byte addresses),
		// expires, rqueue, wqueue, uid, inode.
		if len(d) < 72 {
			return
		}
		is := InetSock{State: stateName(tcpStateNames[:], d[1]), Ino: uint64(le.Uint32(d[68:]))}
		sport, dport := binary.BigEndian.Uint16(d[4:]), binary.BigEndian.Uint16(d[6:])
		is.Local = netip.AddrPortFrom(inetAddr(d[0], d[8:24]), sport)
		is.Remote = netip.AddrPortFrom(inetAddr(d[0], d[24:40]), dport)
		out = append(out, is)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func inetAddr(family uint8, b []byte) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}
