package ns

import (
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// openOwn opens this thread's namespace of the given /proc name.
func openOwn(name string) (*fdio.FD, error) {
	n, err := sys.Openat(unix.AT_FDCWD, "/proc/thread-self/ns/"+name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return fdio.Own(n), nil
}

// Open opens the namespace of type name ("net", "mount", ...) of process
// pid (0: this thread) as a handle, for Spec.Join.
func Open(pid int, name string) (*fdio.FD, error) {
	flag, ok := Flag(name)
	if !ok {
		return nil, errf("ns", "unknown namespace %q", name)
	}
	p := "/proc/thread-self/ns/" + procName(flag)
	if pid > 0 {
		p = "/proc/" + itoa(pid) + "/ns/" + procName(flag)
	}
	n, err := sys.Openat(unix.AT_FDCWD, p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return fdio.Own(n), nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
