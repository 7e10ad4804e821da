package fdio

import (
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// FileType returns the S_IFMT bits of f, asking the kernel once.
func (f *FD) FileType() (uint32, error) {
	f.mu.Lock()
	c := f.class
	n := f.num
	f.mu.Unlock()
	if c != 0 {
		return c, nil
	}
	if n < 0 {
		_, err := f.Num()
		return 0, err
	}
	var st unix.Stat_t
	if err := sys.Fstat(n, &st); err != nil {
		return 0, err
	}
	c = st.Mode & unix.S_IFMT
	f.mu.Lock()
	f.class = c
	f.mu.Unlock()
	return c, nil
}

// pollable reports whether reads and writes on this file type can wait
// (regular files and directories never do).
func pollable(t uint32) bool { return t != unix.S_IFREG && t != unix.S_IFDIR && t != unix.S_IFBLK }

// TryRead reads up to len(p) bytes, or returns EAGAIN when nothing can be
// read without waiting. Sockets use MSG_DONTWAIT; pipes, fifos and
// terminals are polled first. Neither changes the open file description.
func TryRead(f *FD, p []byte) (int, error) {
	n, err := f.Num()
	if err != nil {
		return 0, err
	}
	t, err := f.FileType()
	if err != nil {
		return 0, err
	}
	if t == unix.S_IFSOCK {
		r, _, err := unix.Recvfrom(n, p, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN || err == unix.EINTR {
			return 0, ErrAgain
		}
		return r, sys.Wrap("read", sys.FdAddr(n), err)
	}
	if pollable(t) {
		rev, err := Ready(n, unix.POLLIN)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			return 0, ErrAgain
		}
	}
	r, err := sys.Read(n, p)
	if IsAgain(err) {
		return 0, ErrAgain
	}
	return r, err
}

// PipeChunk is what one write to a pipe may carry without blocking: a
// writable pipe has at least one free buffer of PIPE_BUF bytes.
const PipeChunk = 4096

// TryWrite writes some of p, or returns EAGAIN when nothing can be written
// without waiting.
func TryWrite(f *FD, p []byte) (int, error) {
	n, err := f.Num()
	if err != nil {
		return 0, err
	}
	t, err := f.FileType()
	if err != nil {
		return 0, err
	}
	if t == unix.S_IFSOCK {
		w, err := unix.SendmsgN(n, p, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if err == unix.EAGAIN || err == unix.EINTR {
			return 0, ErrAgain
		}
		return w, sys.Wrap("write", sys.FdAddr(n), err)
	}
	if pollable(t) {
		rev, err := Ready(n, unix.POLLOUT)
		if err != nil {
			return 0, err
		}
		if rev&(unix.POLLOUT|unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) == 0 {
			return 0, ErrAgain
		}
		if t == unix.S_IFIFO && len(p) > PipeChunk {
			p = p[:PipeChunk]
		}
	}
	w, err := sys.Write(n, p)
	if IsAgain(err) {
		return 0, ErrAgain
	}
	return w, err
}
