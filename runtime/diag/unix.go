package diag

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// UnixSock is what sock_diag says about one unix socket.
type UnixSock struct {
	Ino   uint64
	Peer  uint64 // the inode of the other end of its connection, 0 if none
	Type  string // stream, dgram, seqpacket
	State string // listen, connected, unconnected, ...
	Path  string // bound name ("@name" for abstract), "" if none
	// PeerKnown is false when the source (/proc/net/unix) cannot tell peers.
	PeerKnown bool
	// Pending lists, for a listener, the connections in its accept queue
	// (UNIX_DIAG_ICONS) by the inode of their client's socket: the
	// queued server ends have no inode of their own.
	Pending []uint64
}

// Netlink sock_diag constants for AF_UNIX (linux/unix_diag.h).
const (
	sockDiagByFamily = 20
	udiagShowName    = 0x01
	udiagShowPeer    = 0x04
	udiagShowIcons   = 0x08
	unixDiagName     = 0
	unixDiagPeer     = 2
	unixDiagIcons    = 3
)

// tcpStates name a unix socket's state (TCP_* numbers, as unix_diag
// reports them), indexed by state.
var tcpStates = [...]string{1: "connected", 7: "unconnected", 10: "listen"}

// stateName is names[s], or "" beyond it.
func stateName(names []string, s uint8) string {
	if int(s) < len(names) {
		return names[s]
	}
	return ""
}

// UnixSockets describes every unix socket of this network namespace,
// keyed by inode. It asks sock_diag first; when the kernel has no
// unix_diag it reads /proc/net/unix, which has no peers (PeerKnown false).
func UnixSockets() (map[uint64]UnixSock, error) {
	m, err := unixDiag()
	if err == nil {
		return m, nil
	}
	if m2, err2 := procNetUnix(); err2 == nil {
		return m2, nil
	}
	return nil, err
}

func unixDiag() (map[uint64]UnixSock, error) {
	// nlmsghdr (16) + unix_diag_req (24)
	req := make([]byte, 40)
	le := binary.LittleEndian
	le.PutUint32(req[0:], 40)
	le.PutUint16(req[4:], sockDiagByFamily)
	le.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	le.PutUint32(req[8:], 1)
	req[16] = unix.AF_UNIX
	le.PutUint32(req[20:], 0xffffffff) // every state
	le.PutUint32(req[28:], udiagShowName|udiagShowPeer|udiagShowIcons)
	le.PutUint32(req[32:], 0xffffffff)
	le.PutUint32(req[36:], 0xffffffff)
	out := map[uint64]UnixSock{}
	err := dumpSockDiag("unix", req, func(d []byte) {
		if len(d) < 16 {
			return
		}
		u := UnixSock{Ino: uint64(le.Uint32(d[4:])), PeerKnown: true}
		u.Type = fdio.TypeName(int(d[1]))
		u.State = stateName(tcpStates[:], d[2])
		attrs := d[16:]
		for len(attrs) >= 4 {
			l := int(le.Uint16(attrs))
			t := le.Uint16(attrs[2:])
			if l < 4 || l > len(attrs) {
				break
			}
			v := attrs[4:l]
			switch t {
			case unixDiagPeer:
				if len(v) >= 4 {
					u.Peer = uint64(le.Uint32(v))
				}
			case unixDiagIcons:
				for i := 0; i+4 <= len(v); i += 4 {
					u.Pending = append(u.Pending, uint64(le.Uint32(v[i:])))
				}
			case unixDiagName:
				if len(v) > 0 && v[0] == 0 {
					u.Path = "@" + string(v[1:])
				} else {
					u.Path = strings.TrimRight(string(v), "\x00")
				}
			}
			attrs = attrs[(l+3)&^3:]
		}
		out[u.Ino] = u
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// procNetUnix reads /proc/net/unix: inode, type, state and path, no peers.
func procNetUnix() (map[uint64]UnixSock, error) {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return nil, sys.Wrap("read", "/proc/net/unix", unwrapErrno(err))
	}
	out := map[uint64]UnixSock{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 7 {
			continue
		}
		ino, _ := strconv.ParseUint(f[6], 10, 64)
		typ, _ := strconv.ParseUint(f[4], 16, 32)
		st, _ := strconv.ParseUint(f[5], 16, 8)
		fl, _ := strconv.ParseUint(f[3], 16, 32)
		u := UnixSock{Ino: ino, Type: fdio.TypeName(int(typ))}
		switch {
		case fl&0x10000 != 0: // __SO_ACCEPTCON
			u.State = "listen"
		case st == 3:
			u.State = "connected"
		default:
			u.State = "unconnected"
		}
		if len(f) > 7 {
			u.Path = f[7]
		}
		out[ino] = u
	}
	return out, nil
}

type nlmsg struct {
	typ  uint16
	data []byte
}

// parseNetlink splits a netlink datagram into messages (NLMSG_ALIGN 4).
func parseNetlink(b []byte) []nlmsg {
	var out []nlmsg
	le := binary.LittleEndian
	for len(b) >= 16 {
		l := int(le.Uint32(b))
		if l < 16 || l > len(b) {
			break
		}
		out = append(out, nlmsg{typ: le.Uint16(b[4:]), data: b[16:l]})
		b = b[min((l+3)&^3, len(b)):]
	}
	return out
}
