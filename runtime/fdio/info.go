package fdio

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Info is what the kernel (and the runtime's tags) say about a descriptor.
type Info struct {
	Num     int
	Kind    string // file, dir, pipe, fifo, socket, pidfd, memfd, eventfd, anon, chr, blk, link, path
	Flags   []string
	Cloexec bool
	Dev     uint64
	Ino     uint64
	Link    string // readlink of /proc/self/fd/N
	Path    bool   // an O_PATH descriptor
	Owned   bool
	Tags    []string
	Socket  *SocketInfo
}

// SocketInfo describes a socket descriptor.
type SocketInfo struct {
	Domain    string // unix, inet, inet6, or the number
	Type      string // stream, dgram, seqpacket, raw
	Listening bool
	Local     string // "" when unnamed
	Peer      string // "" when unconnected or unnamed
	// PeerUnnamed is set for a connected unix socket whose peer has no
	// address (a socketpair, a client that did not bind).
	PeerUnnamed bool
}

// accessModes are indexed by O_ACCMODE (0, 1, 2; 3 has no name).
var accessModes = [...]string{unix.O_RDONLY: "O_RDONLY", unix.O_WRONLY: "O_WRONLY", unix.O_RDWR: "O_RDWR", 3: ""}

var openFlags = []struct {
	bit  int
	name string
}{
	{unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"}, {unix.O_DIRECT, "O_DIRECT"},
	{unix.O_SYNC, "O_SYNC"}, {unix.O_DSYNC, "O_DSYNC"}, {unix.O_NOATIME, "O_NOATIME"},
	{unix.O_PATH, "O_PATH"}, {unix.O_LARGEFILE, "O_LARGEFILE"}, {unix.O_ASYNC, "O_ASYNC"},
}

// FlagNames names the bits of an F_GETFL result.
func FlagNames(fl int) []string {
	out := []string{}
	if fl&unix.O_PATH == 0 {
		out = append(out, accessModes[fl&unix.O_ACCMODE])
	}
	for _, f := range openFlags {
		if fl&f.bit == f.bit {
			out = append(out, f.name)
		}
	}
	return out
}

// domainName names an AF_* value.
func domainName(d int) (string, bool) {
	switch d {
	case unix.AF_UNIX:
		return "unix", true
	case unix.AF_INET:
		return "inet", true
	case unix.AF_INET6:
		return "inet6", true
	case unix.AF_NETLINK:
		return "netlink", true
	case unix.AF_PACKET:
		return "packet", true
	}
	return "", false
}

// TypeByName maps socket type names to SOCK_* values.
func TypeByName(s string) (int, bool) {
	switch s {
	case "stream":
		return unix.SOCK_STREAM, true
	case "dgram":
		return unix.SOCK_DGRAM, true
	case "seqpacket":
		return unix.SOCK_SEQPACKET, true
	case "raw":
		return unix.SOCK_RAW, true
	}
	return 0, false
}

// TypeName names a SOCK_* value.
func TypeName(t int) string {
	switch t {
	case unix.SOCK_STREAM:
		return "stream"
	case unix.SOCK_DGRAM:
		return "dgram"
	case unix.SOCK_SEQPACKET:
		return "seqpacket"
	case unix.SOCK_RAW:
		return "raw"
	}
	return strconv.Itoa(t)
}

// Stat describes the descriptor n.
func Stat(n int) (*Info, error) {
	var st unix.Stat_t
	if err := sys.Fstat(n, &st); err != nil {
		return nil, err
	}
	in := &Info{Num: n, Dev: st.Dev, Ino: st.Ino}
	in.Link, _ = sys.Readlink("/proc/self/fd/" + strconv.Itoa(n))
	if fl, err := sys.GetFl(n); err == nil {
		in.Flags = FlagNames(fl)
		in.Path = fl&unix.O_PATH != 0
	}
	if fdfl, err := sys.GetFdFlags(n); err == nil {
		in.Cloexec = fdfl&unix.FD_CLOEXEC != 0
	}
	in.Kind = kindOf(st.Mode, in.Link)
	if in.Kind == "socket" && !in.Path {
		in.Socket = socketInfo(n)
	}
	if in.Path {
		// An O_PATH descriptor can be fstat'ed but not used for I/O; keep
		// the kind of what it points at and say it is a path handle.
		in.Tags = append(in.Tags, "path")
	}
	return in, nil
}

// Info describes f, adding the runtime's tags.
func (f *FD) Info() (*Info, error) {
	n, err := f.Num()
	if err != nil {
		return nil, err
	}
	in, err := Stat(n)
	if err != nil {
		return nil, err
	}
	in.Owned = !f.borrowed
	in.Tags = append(in.Tags, f.Tags()...)
	if in.Socket != nil && f.HasTag("anon") {
		// bind_anon's scratch name is gone; "anon" says how it is reached.
		in.Socket.Local, in.Socket.Peer = "", ""
	}
	return in, nil
}

func kindOf(mode uint32, link string) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		if strings.HasPrefix(link, "pipe:") {
			return "pipe"
		}
		return "fifo"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFCHR:
		return "chr"
	case unix.S_IFBLK:
		return "blk"
	case unix.S_IFLNK:
		return "link"
	case unix.S_IFREG:
		if strings.HasPrefix(link, "/memfd:") {
			return "memfd"
		}
		if strings.HasPrefix(link, "anon_inode:") {
			return anonKind(link)
		}
		return "file"
	}
	if strings.HasPrefix(link, "anon_inode:") || strings.HasPrefix(link, "pidfd:") {
		return anonKind(link)
	}
	return "anon"
}

func anonKind(link string) string {
	switch {
	case strings.Contains(link, "pidfd"):
		return "pidfd"
	case strings.Contains(link, "[eventfd]"):
		return "eventfd"
	}
	return "anon"
}

func socketInfo(n int) *SocketInfo {
	si := &SocketInfo{}
	dom, err := sys.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_DOMAIN, "SO_DOMAIN")
	if err != nil {
		return si
	}
	if d, ok := domainName(dom); ok {
		si.Domain = d
	} else {
		si.Domain = strconv.Itoa(dom)
	}
	typ, _ := sys.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_TYPE, "SO_TYPE")
	si.Type = TypeName(typ)
	acc, _ := sys.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_ACCEPTCONN, "SO_ACCEPTCONN")
	si.Listening = acc != 0
	if sa, err := sys.Getsockname(n); err == nil {
		si.Local = addr.FormatSockaddr(sa, typ)
	}
	if sa, err := sys.Getpeername(n); err == nil {
		si.Peer = addr.FormatSockaddr(sa, typ)
	}
	// An unnamed unix socket (socketpair, unbound) has no address; x/sys
	// decodes it as "@", the empty abstract name, which it is not.
	if dom == unix.AF_UNIX {
		if u, _ := sys.Unnamed(n, false); u && si.Local == "@" {
			si.Local = ""
		}
		if u, _ := sys.Unnamed(n, true); u && si.Peer == "@" {
			si.Peer = ""
			si.PeerUnnamed = true
		}
	}
	return si
}

// Summary is the short form used by __tostring: "unix/stream listening anon".
func (in *Info) Summary() string {
	parts := []string{}
	if in.Socket != nil {
		parts = append(parts, in.Socket.Domain+"/"+in.Socket.Type)
		if in.Socket.Listening {
			parts = append(parts, "listening")
		}
		if in.Socket.Local != "" {
			parts = append(parts, in.Socket.Local)
		}
		if in.Socket.Peer != "" {
			parts = append(parts, "peer "+in.Socket.Peer)
		} else if in.Socket.PeerUnnamed {
			parts = append(parts, "connected")
		}
	} else {
		parts = append(parts, in.Kind)
		if in.Kind == "file" || in.Kind == "dir" || in.Kind == "fifo" || in.Kind == "chr" {
			parts = append(parts, in.Link)
		}
	}
	parts = append(parts, in.Tags...)
	if !in.Owned {
		parts = append(parts, "borrowed")
	}
	return strings.Join(parts, " ")
}

// CountOpen counts this process's open descriptors (for leak checks).
func CountOpen() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own descriptor
}

// OpenNumbers lists this process's open descriptor numbers.
func OpenNumbers() []int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	self := int(d.Fd())
	var out []int
	for _, nm := range names {
		if n, err := strconv.Atoi(nm); err == nil && n != self {
			out = append(out, n)
		}
	}
	return out
}

// String is a one-line description for debugging.
func (in *Info) String() string { return fmt.Sprintf("<fd %d %s>", in.Num, in.Summary()) }
