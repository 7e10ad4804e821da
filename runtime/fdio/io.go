package fdio

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// FileType returns the S_IFMT bits of f, asking the kernel once.
func (f *FD) FileType() (uint32, error) {
	f.mu.Lock()
	c, known := f.class, f.classKnown
	n := f.num
	f.mu.Unlock()
	if known {
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
	f.class, f.classKnown = c, true
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
	n, t, err := numAndType(f)
	if err != nil {
		return 0, err
	}
	if t == unix.S_IFSOCK {
		r, err := sys.Recv(n, p, unix.MSG_DONTWAIT)
		return r, againOr(err)
	}
	if err := readyOrAgain(n, t, unix.POLLIN); err != nil {
		return 0, err
	}
	r, err := sys.Read(n, p)
	return r, againOr(err)
}

// numAndType is the prologue of every Try operation on f.
func numAndType(f *FD) (int, uint32, error) {
	n, err := f.Num()
	if err != nil {
		return -1, 0, err
	}
	t, err := f.FileType()
	return n, t, err
}

// readyOrAgain polls a descriptor that can wait (pipes, fifos, terminals)
// and says EAGAIN when none of events is pending; an error or hang-up
// counts as ready, so the call that follows reports it.
func readyOrAgain(n int, t uint32, events int16) error {
	if !pollable(t) {
		return nil
	}
	rev, err := Ready(n, events)
	if err != nil {
		return err
	}
	if rev == 0 {
		return ErrAgain
	}
	return nil
}

// againOr maps any "would block" to ErrAgain and leaves other errors.
func againOr(err error) error {
	if IsAgain(err) {
		return ErrAgain
	}
	return err
}

// PipeChunk is what one write to a pipe may carry without blocking: a
// writable pipe has at least one free buffer of PIPE_BUF bytes.
const PipeChunk = 4096

// TryWrite writes some of p, or returns EAGAIN when nothing can be written
// without waiting. On a handle whose file type is not known yet (a
// received connection) it tries send(2) first: a socket then needs no
// fstat, and anything else says ENOTSOCK without side effects and takes
// the fstat path once.
func TryWrite(f *FD, p []byte) (int, error) {
	f.mu.Lock()
	n, known := f.num, f.classKnown
	f.mu.Unlock()
	if n >= 0 && !known {
		w, err := sys.Send(n, p, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if !errors.Is(err, unix.ENOTSOCK) {
			if err == nil || !errors.Is(err, unix.EBADF) {
				f.mu.Lock()
				f.class, f.classKnown = unix.S_IFSOCK, true
				f.mu.Unlock()
			}
			return w, againOr(err)
		}
	}
	n, t, err := numAndType(f)
	if err != nil {
		return 0, err
	}
	if t == unix.S_IFSOCK {
		w, err := sys.Send(n, p, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		return w, againOr(err)
	}
	if err := readyOrAgain(n, t, unix.POLLOUT); err != nil {
		return 0, err
	}
	if t == unix.S_IFIFO && len(p) > PipeChunk {
		p = p[:PipeChunk]
	}
	w, err := sys.Write(n, p)
	return w, againOr(err)
}
