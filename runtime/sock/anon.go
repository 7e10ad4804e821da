package sock

// bind_anon emulation. Linux cannot bind a unix socket without a name, but
// a socket whose file name has been removed is still reachable through an
// O_PATH descriptor of its inode: connect(2) and sendto(2) on
// /proc/self/fd/N follow the magic link to the inode and find the socket
// bound there. So BindAnon binds inside a fresh private 0700 directory,
// makes the socket file 0666 (holding the handle is the permission, so a
// client of any uid that is handed it can connect), opens it O_PATH,
// unlinks the name and removes the directory before it returns. What is
// left is the listener and an address handle that only holders of the
// handle (and of /proc/PID/fd access to them) can use.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// AnonOptions configure BindAnon.
type AnonOptions struct {
	// Type is SOCK_STREAM (the default), SOCK_SEQPACKET or SOCK_DGRAM.
	Type int
	// Backlog for listen(2); 0 means SOMAXCONN. Unused for SOCK_DGRAM.
	Backlog int
	// Publishable keeps the name inside the private directory until
	// Publish links it at a public path or the address handle closes.
	Publishable bool
	// Dir is where the private scratch directory is made (default
	// os.TempDir()). Publish can only link within the same file system.
	Dir string
}

// anonAddr is what the runtime remembers about an address handle.
type anonAddr struct {
	mu          sync.Mutex
	typ         int
	listener    *fdio.FD
	publishable bool
	dir, sock   string // private directory and name in it, while they exist
	published   string
	dev, ino    uint64 // the socket file's inode, to recognise it later
}

// lookupAnon returns the record BindAnon attached to the address handle:
// it lives on the handle (and so with whichever runtime owns it), not in
// a process-wide table.
func lookupAnon(h *fdio.FD) *anonAddr {
	a, _ := h.Attached().(*anonAddr)
	return a
}

// AddressType is the socket type of the listener behind an address handle
// made by BindAnon in this process, or 0 when it is not known (a handle
// received from elsewhere).
func AddressType(h *fdio.FD) int {
	if a := lookupAnon(h); a != nil {
		return a.typ
	}
	return 0
}

// IsAnonAddress reports whether h is an address handle made by BindAnon here.
func IsAnonAddress(h *fdio.FD) bool { return lookupAnon(h) != nil }

// BindAnon makes a unix socket reachable only through the returned address
// handle (an O_PATH descriptor of its inode) and, for stream and seqpacket,
// listening. Both handles are tagged "anon". Unless Publishable is set,
// nothing of it is left in the file system when BindAnon returns, also
// when it fails.
func BindAnon(o AnonOptions) (listener, handle *fdio.FD, err error) {
	if o.Type == 0 {
		o.Type = unix.SOCK_STREAM
	}
	if o.Type != unix.SOCK_STREAM && o.Type != unix.SOCK_SEQPACKET && o.Type != unix.SOCK_DGRAM {
		return nil, nil, sys.Errorf("bind_anon", "", unix.EINVAL, "type must be stream, seqpacket or dgram")
	}
	parent := o.Dir
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := makePrivateDir(parent)
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "s")
	keep := false
	defer func() {
		if !keep {
			removePrivate(dir, path)
		}
	}()
	l, err := Socket(unix.AF_UNIX, o.Type)
	if err != nil {
		return nil, nil, err
	}
	h, info, err := bindAndPin(l, o, path)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	a := &anonAddr{typ: o.Type, listener: l, publishable: o.Publishable, dev: info.Dev, ino: info.Ino}
	if o.Publishable {
		keep = true
		a.dir, a.sock = dir, path
	} else if err := removePrivate(dir, path); err != nil {
		keep = true // already tried; do not try twice
		l.Close()
		h.Close()
		return nil, nil, err
	}
	l.Tag("anon")
	h.Tag("anon")
	h.Tag("address")
	h.Tag("unix/" + fdio.TypeName(o.Type))
	h.Attach(a)
	h.OnClose(func() {
		a.mu.Lock()
		d, s := a.dir, a.sock
		a.dir, a.sock = "", ""
		a.mu.Unlock()
		if d != "" {
			removePrivate(d, s)
		}
	})
	return l, h, nil
}

// bindAndPin binds l at path, opens the address handle and listens.
func bindAndPin(l *fdio.FD, o AnonOptions, path string) (*fdio.FD, unix.Stat_t, error) {
	var st unix.Stat_t
	if err := Bind(l, addr.Addr{Kind: addr.Unix, Path: path}); err != nil {
		return nil, st, sys.WithHint(err, "binding inside the private scratch directory")
	}
	if err := sys.Fchmodat(unix.AT_FDCWD, path, 0o666); err != nil {
		return nil, st, err
	}
	hn, err := sys.Openat(unix.AT_FDCWD, path, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, st, err
	}
	h := fdio.Own(hn)
	if err := sys.Fstat(hn, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		h.Close()
		if err == nil {
			err = sys.Errorf("bind_anon", path, unix.EINVAL, "the scratch name is not the socket just bound")
		}
		return nil, st, err
	}
	if o.Type != unix.SOCK_DGRAM {
		if err := Listen(l, o.Backlog); err != nil {
			h.Close()
			return nil, st, err
		}
	}
	return h, st, nil
}

// makePrivateDir makes a fresh 0700 directory under parent.
func makePrivateDir(parent string) (string, error) {
	var b [8]byte
	for i := 0; i < 100; i++ {
		rand.Read(b[:])
		d := filepath.Join(parent, "fdwire-anon-"+hex.EncodeToString(b[:]))
		err := sys.Mkdirat(unix.AT_FDCWD, d, 0o700)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", sys.WithHint(err, "making bind_anon's private scratch directory")
		}
	}
	return "", sys.Errorf("mkdir", parent, unix.EEXIST, "no fresh name for a scratch directory")
}

// removePrivate removes the socket's private name and its directory.
func removePrivate(dir, path string) error {
	if err := sys.Unlinkat(unix.AT_FDCWD, path, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		sys.Unlinkat(unix.AT_FDCWD, dir, unix.AT_REMOVEDIR)
		return err
	}
	if err := sys.Unlinkat(unix.AT_FDCWD, dir, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// PublishOptions configure Publish.
type PublishOptions struct {
	// Keep leaves the public name in place when the listener closes, as a
	// bind to a path would.
	Keep bool
}

// Publish links the socket behind a publishable address handle at path,
// then removes its private name and directory. The public name is
// removed again when this process's listener handle closes (if it is
// still the same socket file), unless o.Keep is set. A handle is
// published once.
func Publish(h *fdio.FD, path string, o PublishOptions) error {
	if _, err := h.Num(); err != nil {
		return err
	}
	a := lookupAnon(h)
	if a == nil {
		return sys.Errorf("publish", path, unix.EINVAL, "%s is not an address handle made by bind_anon in this process", Describe(h))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.publishable:
		return sys.Errorf("publish", path, unix.EINVAL,
			"the address handle was made without publishable=true: its name was removed inside bind_anon, and the kernel cannot give a name back to a socket file that has none (linkat fails with ENOENT); make it with bind_anon{publishable=true}")
	case a.published != "":
		return sys.Errorf("publish", path, unix.EEXIST, "the address handle is already published at %s; a handle is published once", a.published)
	case a.listener.Closed() && !o.Keep:
		return sys.Errorf("publish", path, unix.ECONNREFUSED, "the listener is closed, so the name would be removed at once; pass keep=true to publish anyway")
	}
	if err := sys.Linkat(unix.AT_FDCWD, a.sock, unix.AT_FDCWD, path, 0); err != nil {
		if errors.Is(err, unix.EXDEV) {
			return sys.WithHint(err, "the scratch directory "+filepath.Dir(a.dir)+" is on another file system, and a hard link cannot cross file systems; make the handle with bind_anon{publishable=true, dir=<a directory on the same file system>}")
		}
		return err
	}
	a.published = path
	err := removePrivate(a.dir, a.sock)
	a.dir, a.sock = "", ""
	if !o.Keep {
		dev, ino := a.dev, a.ino
		a.listener.OnClose(func() { removeIfSame(path, dev, ino) })
	}
	return err
}

// removeIfSame unlinks path if it still names the socket file dev/ino, so
// that a name someone else has since put there is left alone.
func removeIfSame(path string, dev, ino uint64) {
	var st unix.Stat_t
	if sys.Fstatat(unix.AT_FDCWD, path, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Dev == dev && st.Ino == ino {
		sys.Unlinkat(unix.AT_FDCWD, path, 0)
	}
}

// DialAddress connects a fresh socket to the socket behind address handle
// h (fd:N). With typ 0 it uses the type BindAnon recorded, or, for a
// handle from elsewhere, tries stream, seqpacket and dgram in turn (a
// mismatch fails with EPROTOTYPE before anything is sent). The type used
// is returned. As with Dial, a pending result is finished with
// FinishDial.
func DialAddress(typ int, h *fdio.FD) (s *fdio.FD, pending bool, used int, err error) {
	n, err := h.Num()
	if err != nil {
		return nil, false, 0, err
	}
	a := addr.Addr{Kind: addr.FD, Num: n}
	if typ == 0 {
		typ = AddressType(h)
	}
	if typ != 0 {
		s, pending, err = Dial(typ, a)
		return s, pending, typ, HandleHint(err, h)
	}
	for _, t := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET, unix.SOCK_DGRAM} {
		s, pending, err = Dial(t, a)
		if !errors.Is(err, unix.EPROTOTYPE) {
			return s, pending, t, HandleHint(err, h)
		}
	}
	return nil, false, 0, err
}

// HandleHint explains ECONNREFUSED when the "address" is a socket itself:
// /proc/self/fd/N of a socket descriptor leads to its sockfs inode, not to
// the file it is bound at, so the route only works for O_PATH handles.
func HandleHint(err error, h *fdio.FD) error {
	if !errors.Is(err, unix.ECONNREFUSED) {
		return err
	}
	in, ierr := h.Info()
	if ierr != nil {
		return err
	}
	switch {
	case in.Socket != nil:
		return sys.WithHint(err, "this handle is a socket itself, not an address handle; connect through the address handle bind_anon returned, or to the socket's path")
	case in.Path && in.Kind == "socket":
		return sys.WithHint(err, "nothing listens on the socket behind the address handle any more (its listener was closed)")
	}
	return err
}
