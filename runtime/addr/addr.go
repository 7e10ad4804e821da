// Package addr is fdwire's one address grammar, shared by Lua and the CLI:
//
//	unix:/path, /path, ./path   a unix socket path (unix: also takes relative paths)
//	@name                        an abstract unix name; "@" alone asks the kernel to autobind
//	tcp:host:port, udp:host:port IPv4 (host may be empty or "*" for any, or "localhost")
//	tcp6:[host]:port, udp6:...   IPv6 (brackets required)
//	fd:N                         the socket (or O_PATH address handle) at descriptor N
package addr

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind is the family an address belongs to.
type Kind int

const (
	Unix Kind = iota + 1
	Abstract
	TCP
	TCP6
	UDP
	UDP6
	FD
)

// Addr is a parsed address.
type Addr struct {
	Kind Kind
	Path string     // Unix: the path; Abstract: the name without '@' ("" = autobind)
	IP   netip.Addr // TCP/UDP
	Port int
	Num  int // FD
}

// SunPathMax is the size of sockaddr_un.sun_path; a path (plus its NUL)
// must fit in it to be bound or connected to directly.
const SunPathMax = 108

// ParseError reports an address that does not follow the grammar.
type ParseError struct {
	Input string
	Why   string
}

func (e *ParseError) Error() string { return fmt.Sprintf("address %q: %s", e.Input, e.Why) }

// Parse reads an address in the grammar above.
func Parse(s string) (Addr, error) {
	bad := func(why string) (Addr, error) { return Addr{}, &ParseError{s, why} }
	if s == "" {
		return bad("empty address")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return bad("contains a NUL byte")
	}
	switch {
	case s[0] == '@':
		return Addr{Kind: Abstract, Path: s[1:]}, nil
	case s[0] == '/' || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../"):
		return Addr{Kind: Unix, Path: s}, nil
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("expected unix:/path, /path, @name, tcp:host:port, tcp6:[host]:port, udp:host:port, udp6:[host]:port or fd:N")
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return bad("empty unix path")
		}
		if rest[0] == '@' {
			return Addr{Kind: Abstract, Path: rest[1:]}, nil
		}
		return Addr{Kind: Unix, Path: rest}, nil
	case "fd":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || rest[0] == '+' {
			return bad("fd: needs a descriptor number")
		}
		return Addr{Kind: FD, Num: n}, nil
	case "tcp", "udp", "tcp6", "udp6":
		k := map[string]Kind{"tcp": TCP, "udp": UDP, "tcp6": TCP6, "udp6": UDP6}[scheme]
		return parseInet(s, k, rest)
	}
	return bad(fmt.Sprintf("unknown scheme %q", scheme))
}

func parseInet(s string, k Kind, rest string) (Addr, error) {
	bad := func(why string) (Addr, error) { return Addr{}, &ParseError{s, why} }
	six := k == TCP6 || k == UDP6
	var host, port string
	if six {
		if !strings.HasPrefix(rest, "[") {
			return bad("an IPv6 host goes in brackets: tcp6:[::1]:port")
		}
		end := strings.Index(rest, "]")
		if end < 0 || end+1 >= len(rest) || rest[end+1] != ':' {
			return bad("expected [host]:port")
		}
		host, port = rest[1:end], rest[end+2:]
	} else {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return bad("expected host:port")
		}
		host, port = rest[:i], rest[i+1:]
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || port == "" || port[0] == '+' || port[0] == '-' {
		return bad("port must be a number from 0 to 65535")
	}
	var ip netip.Addr
	switch host {
	case "", "*":
		if six {
			ip = netip.IPv6Unspecified()
		} else {
			ip = netip.IPv4Unspecified()
		}
	case "localhost":
		if six {
			ip = netip.IPv6Loopback()
		} else {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return bad(fmt.Sprintf("host %q is not a numeric IP address (names other than localhost are not resolved)", host))
		}
		if ip.Zone() != "" {
			return bad("zoned IPv6 addresses are not supported")
		}
		if six && ip.Is4() {
			return bad("tcp6/udp6 need an IPv6 host")
		}
		if !six && !ip.Is4() {
			return bad("tcp/udp need an IPv4 host; use tcp6:[host]:port")
		}
	}
	return Addr{Kind: k, IP: ip, Port: p}, nil
}

// inetScheme is a switch, not a package-level map: runtime/ keeps none
// (issue 13; tests/ownerstate_test.go).
func inetScheme(k Kind) string {
	switch k {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case TCP6:
		return "tcp6"
	case UDP6:
		return "udp6"
	}
	return ""
}

// String formats a in the grammar; Parse(a.String()) == a.
func (a Addr) String() string {
	switch a.Kind {
	case Unix:
		if strings.HasPrefix(a.Path, "/") || strings.HasPrefix(a.Path, "./") || strings.HasPrefix(a.Path, "../") {
			return a.Path
		}
		return "unix:" + a.Path
	case Abstract:
		return "@" + a.Path
	case TCP, UDP, TCP6, UDP6:
		// Built in one buffer: a server formats every peer it accepts.
		var b [64]byte
		out := append(b[:0], inetScheme(a.Kind)...)
		out = append(out, ':')
		v6 := a.Kind == TCP6 || a.Kind == UDP6
		if v6 {
			out = append(out, '[')
		}
		if a.IP.IsValid() {
			out = a.IP.AppendTo(out)
		} else {
			out = append(out, a.IP.String()...) // "invalid IP", as before
		}
		if v6 {
			out = append(out, ']')
		}
		out = append(out, ':')
		out = strconv.AppendInt(out, int64(a.Port), 10)
		return string(out)
	case FD:
		return "fd:" + strconv.Itoa(a.Num)
	}
	return "?"
}

// Domain is the socket domain for a.
func (a Addr) Domain() int {
	switch a.Kind {
	case TCP, UDP:
		return unix.AF_INET
	case TCP6, UDP6:
		return unix.AF_INET6
	}
	return unix.AF_UNIX
}

// DefaultType is SOCK_DGRAM for udp and SOCK_STREAM otherwise.
func (a Addr) DefaultType() int {
	if a.Kind == UDP || a.Kind == UDP6 {
		return unix.SOCK_DGRAM
	}
	return unix.SOCK_STREAM
}

// Sockaddr converts a to a kernel address. Unix paths longer than
// sun_path allows are refused here; callers that can go through a
// directory descriptor check LongPath first.
func (a Addr) Sockaddr() (unix.Sockaddr, error) {
	switch a.Kind {
	case Unix:
		if len(a.Path) >= SunPathMax {
			return nil, &ParseError{a.String(), fmt.Sprintf("path is %d bytes; sun_path holds %d", len(a.Path), SunPathMax-1)}
		}
		return &unix.SockaddrUnix{Name: a.Path}, nil
	case Abstract:
		if a.Path == "" {
			// An empty abstract name: x/sys encodes "@" as autobind.
			return &unix.SockaddrUnix{Name: ""}, nil
		}
		if len(a.Path)+1 > SunPathMax {
			return nil, &ParseError{a.String(), "abstract name too long"}
		}
		return &unix.SockaddrUnix{Name: "@" + a.Path}, nil
	case TCP, UDP:
		return &unix.SockaddrInet4{Port: a.Port, Addr: a.IP.As4()}, nil
	case TCP6, UDP6:
		return &unix.SockaddrInet6{Port: a.Port, Addr: a.IP.As16()}, nil
	}
	return nil, &ParseError{a.String(), "not a socket address"}
}

// FormatSockaddr formats a kernel address in the grammar; unix sockets
// with no name (unnamed or unlinked-from-nowhere) give "".
func FormatSockaddr(sa unix.Sockaddr, typ int) string {
	switch s := sa.(type) {
	case *unix.SockaddrUnix:
		if s.Name == "" {
			return ""
		}
		if s.Name[0] == '@' || s.Name[0] == 0 {
			return "@" + s.Name[1:]
		}
		return Addr{Kind: Unix, Path: s.Name}.String()
	case *unix.SockaddrInet4:
		k := TCP
		if typ == unix.SOCK_DGRAM {
			k = UDP
		}
		return Addr{Kind: k, IP: netip.AddrFrom4(s.Addr), Port: s.Port}.String()
	case *unix.SockaddrInet6:
		k := TCP6
		if typ == unix.SOCK_DGRAM {
			k = UDP6
		}
		return Addr{Kind: k, IP: netip.AddrFrom16(s.Addr), Port: s.Port}.String()
	}
	return ""
}
