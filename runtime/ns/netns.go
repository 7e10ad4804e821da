package ns

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// NewNetns makes a network namespace with loopback up and returns a
// descriptor of it (for Spec.Join and InNetns). The namespace lives as
// long as a descriptor of it, or a process in it, does. It is made on a
// thread of its own, which is then discarded. Needs CAP_SYS_ADMIN.
func NewNetns() (*fdio.FD, error) {
	type res struct {
		f   *fdio.FD
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread ends with the goroutine
		if err := sys.Unshare(unix.CLONE_NEWNET, "net namespace"); err != nil {
			ch <- res{nil, sys.WithHint(err, "a network namespace of fdwire's own needs CAP_SYS_ADMIN (run as root)")}
			return
		}
		if err := LoopbackUp(); err != nil {
			ch <- res{nil, err}
			return
		}
		f, err := openOwn("net")
		ch <- res{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

// InNetns runs fn on this goroutine's thread while that thread is in the
// network namespace h, then goes back. Sockets fn makes belong to h's
// namespace for their whole life. fn must not block on anything that
// could move work between goroutines; it runs with the thread locked.
func InNetns(h *fdio.FD, fn func() error) error {
	n, err := h.Num()
	if err != nil {
		return sys.Errorf("netns", "", unix.EBADF, "the network namespace handle is closed")
	}
	if err := checkNsHandle(n, unix.CLONE_NEWNET, "netns"); err != nil {
		return err
	}
	runtime.LockOSThread()
	own, err := openOwn("net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer own.Close()
	if err := sys.Setns(n, unix.CLONE_NEWNET, "netns"); err != nil {
		runtime.UnlockOSThread()
		return sys.WithHint(err, joinHint(err, unix.CLONE_NEWNET))
	}
	// Go back also when fn panics. If going back fails the thread stays
	// locked to this goroutine, so no other goroutine runs in h's
	// namespace by accident.
	defer func() {
		if sys.Setns(own.Raw(), unix.CLONE_NEWNET, "restore net") == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}
