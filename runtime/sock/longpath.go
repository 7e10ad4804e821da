package sock

// bindat/connectat emulation. sockaddr_un.sun_path holds 107 bytes, and the
// kernel has no bindat(2) or connectat(2). Both are emulated by opening the
// socket's directory O_PATH and naming the socket as /proc/self/fd/D/name:
// the kernel resolves the magic link to the directory, so only the final
// component (plus about 20 bytes of prefix) has to fit in sun_path. This
// needs /proc mounted; when it is not, the error says so.

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// LongPath reports whether a is a unix path too long for sun_path, which
// Bind, Connect, Dial and SendTo then reach through its directory.
func LongPath(a addr.Addr) bool {
	return a.Kind == addr.Unix && len(a.Path) >= addr.SunPathMax
}

// viaProc reports whether reaching a goes through /proc/self/fd: an
// address handle (fd:N) or a long path.
func viaProc(a addr.Addr) bool { return a.Kind == addr.FD || LongPath(a) }

// viaDir is a sockaddr for name inside the directory dirfd, through
// /proc/self/fd. It fails when even that form does not fit.
func viaDir(op, shown string, dirfd int, name string) (*unix.SockaddrUnix, error) {
	p := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	if len(p) >= addr.SunPathMax {
		return nil, sys.Errorf(op, shown, unix.ENAMETOOLONG,
			"the last path component is %d bytes; even through a directory descriptor (%s...) it must stay under %d bytes",
			len(name), p[:len(p)-len(name)], addr.SunPathMax-len(p)+len(name))
	}
	return &unix.SockaddrUnix{Name: p}, nil
}

// splitLong splits a long path into its directory and last component.
func splitLong(op string, a addr.Addr) (dir, name string, err error) {
	p := strings.TrimRight(a.Path, "/")
	i := strings.LastIndexByte(p, '/')
	switch {
	case i < 0:
		dir, name = ".", p
	case i == 0:
		dir, name = "/", p[1:]
	default:
		dir, name = p[:i], p[i+1:]
	}
	if name == "" {
		return "", "", sys.Errorf(op, a.String(), unix.EINVAL, "the path names no socket")
	}
	return dir, name, nil
}

// withTarget runs call with a kernel address for a, holding open whatever
// that address needs (the directory of a long path) until call returns.
// fd:N goes through /proc/self/fd/N, which reaches the socket an O_PATH
// address handle points at even after its name is gone.
func withTarget(op string, a addr.Addr, call func(sa unix.Sockaddr) error) error {
	switch {
	case a.Kind == addr.FD:
		err := call(&unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(a.Num)})
		return procHint(err, a.String())
	case LongPath(a):
		dir, name, err := splitLong(op, a)
		if err != nil {
			return err
		}
		d, err := sys.Openat(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return sys.Wrap(op, a.String(), unwrapErrno(err))
		}
		defer sys.Close(d)
		sa, err := viaDir(op, a.String(), d, name)
		if err != nil {
			return err
		}
		return procHint(relabel(call(sa), op, a.String()), a.String())
	}
	sa, err := a.Sockaddr()
	if err != nil {
		return sys.Errorf(op, a.String(), unix.ENAMETOOLONG, "%v", err)
	}
	return call(sa)
}

// relabel names the address the user gave, not the /proc form used.
func relabel(err error, op, shown string) error {
	if err == nil {
		return nil
	}
	if se, ok := err.(*sys.Error); ok {
		c := *se
		c.Op, c.Addr = op, shown
		return &c
	}
	return sys.Wrap(op, shown, err)
}

// procHint explains an ENOENT from a /proc/self/fd route when /proc is not
// mounted, which is the usual cause in containers and chroots.
func procHint(err error, shown string) error {
	if err == nil {
		return nil
	}
	if se, ok := err.(*sys.Error); ok && se.Errno() == unix.ENOENT && !ProcMounted() {
		return sys.WithHint(err, "/proc is not mounted: address handles and paths longer than 107 bytes are reached through /proc/self/fd/N; mount proc (mount -t proc proc /proc)")
	}
	return err
}

// ProcMounted reports whether /proc is a proc file system.
func ProcMounted() bool {
	var st unix.Statfs_t
	if err := sys.Statfs("/proc/self/fd", &st); err != nil {
		return false
	}
	return st.Type == unix.PROC_SUPER_MAGIC
}

func bindLong(n int, a addr.Addr) error {
	return withTarget("bind", a, func(sa unix.Sockaddr) error { return sys.Bind(n, sa, a.String()) })
}

func connectLong(n int, a addr.Addr) error {
	return withTarget("connect", a, func(sa unix.Sockaddr) error { return sys.Connect(n, sa, a.String()) })
}

// dialLong is Dial for an address reached through /proc.
func dialLong(typ int, a addr.Addr) (*fdio.FD, bool, error) {
	return dialWith(unix.AF_UNIX, typ, func(n int) error { return connectLong(n, a) })
}

// checkAtName refuses names that would not be relative to the directory.
func checkAtName(op, name string) error {
	if name == "" || strings.HasPrefix(name, "/") {
		return sys.Errorf(op, name, unix.EINVAL, "the name must be a non-empty path relative to the directory handle")
	}
	return nil
}

func atShown(dirfd int, name string) string { return "fd " + strconv.Itoa(dirfd) + "/" + name }

// BindAt binds s to name inside the directory dir (bindat(2) emulation).
// The socket's own idea of its name (getsockname) is the /proc form.
func BindAt(s, dir *fdio.FD, name string) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	d, err := dir.Num()
	if err != nil {
		return err
	}
	if err := checkAtName("bind", name); err != nil {
		return err
	}
	sa, err := viaDir("bind", atShown(d, name), d, name)
	if err != nil {
		return err
	}
	return procHint(sys.Bind(n, sa, atShown(d, name)), atShown(d, name))
}

// ConnectAt connects s to name inside the directory dir (connectat(2)
// emulation).
func ConnectAt(s, dir *fdio.FD, name string) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	return connectAtNum(n, dir, name)
}

func connectAtNum(n int, dir *fdio.FD, name string) error {
	d, err := dir.Num()
	if err != nil {
		return err
	}
	if err := checkAtName("connect", name); err != nil {
		return err
	}
	sa, err := viaDir("connect", atShown(d, name), d, name)
	if err != nil {
		return err
	}
	return procHint(sys.Connect(n, sa, atShown(d, name)), atShown(d, name))
}

// DialAt starts connecting a fresh unix socket of type typ to name inside
// dir; like Dial, pending means wait for POLLOUT and call FinishDialAt.
func DialAt(typ int, dir *fdio.FD, name string) (*fdio.FD, bool, error) {
	return dialWith(unix.AF_UNIX, typ, func(n int) error { return connectAtNum(n, dir, name) })
}
