package sys

import "golang.org/x/sys/unix"

// EpollCreate makes a close-on-exec epoll instance.
func EpollCreate() (int, error) {
	fd, err := retryFd(func() (int, error) { return unix.EpollCreate1(unix.EPOLL_CLOEXEC) })
	return fd, Wrap("epoll_create1", "", err)
}

// EpollCtl adds (unix.EPOLL_CTL_ADD), changes or removes fd in the
// instance epfd; data comes back with each of its events.
func EpollCtl(epfd, op, fd int, events uint32, data int32) error {
	ev := unix.EpollEvent{Events: events, Fd: data}
	return wrapFd("epoll_ctl", fd, retry(func() error { return unix.EpollCtl(epfd, op, fd, &ev) }))
}

// EpollWait collects ready events into evs without waiting (the caller
// waits for epfd itself to be readable in its own poller); an EINTR is
// no events.
func EpollWait(epfd int, evs []unix.EpollEvent) (int, error) {
	n, err := unix.EpollWait(epfd, evs, 0)
	if err == unix.EINTR {
		return 0, nil
	}
	return n, wrapFd("epoll_wait", epfd, err)
}
