package proc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Readiness. notify=true gives the child NOTIFY_SOCKET, the address of a
// private datagram socket (an abstract unix name with 128 random bits,
// SO_PASSCRED on, so each message's sender is known); the child sends
// sd_notify messages ("READY=1", "STATUS=...", "FDSTORE=1" with fds).
// Messages from a uid other than root, this process's or the child's are
// dropped: abstract names are visible in /proc/net/unix. notify_fd=N is
// the s6 convention: the child writes a newline to descriptor N.

// Ready is what a child has said about itself so far.
type Ready struct {
	Ready   bool
	Status  string            // the last STATUS=
	Vars    map[string]string // the last value of every KEY=VALUE
	Fds     []*fdio.FD        // fds sent with FDSTORE=1, owned by the caller
	FdNames []string          // FDNAME= of each (default "stored")
	Via     string            // "notify_socket" or "notify_fd"
}

type readiness struct {
	mu      sync.Mutex
	sock    *fdio.FD
	addr    string
	pipe    *fdio.FD
	pipeEOF bool
	uid     uint32
	st      Ready
	dropped int
}

func newReadiness(socket bool) (*readiness, error) {
	r := &readiness{st: Ready{Vars: map[string]string{}}, uid: uint32(os.Geteuid())}
	if !socket {
		return r, nil
	}
	n, err := sys.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil, err
	}
	f := fdio.Own(n)
	var rnd [16]byte
	rand.Read(rnd[:])
	r.addr = "@fdwire/notify/" + hex.EncodeToString(rnd[:])
	if err := sys.SetsockoptInt(n, unix.SOL_SOCKET, unix.SO_PASSCRED, 1, "SO_PASSCRED"); err != nil {
		f.Close()
		return nil, err
	}
	if err := sys.Bind(n, &unix.SockaddrUnix{Name: r.addr}, r.addr); err != nil {
		f.Close()
		return nil, err
	}
	r.sock = f
	return r, nil
}

// setPipe takes the read end of the notify_fd pipe. It is private to
// this process, so making its description non-blocking is safe.
func (r *readiness) setPipe(f *fdio.FD) {
	f.SetNonblock(true)
	r.pipe = f
}

func (r *readiness) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sock != nil {
		r.sock.Close()
	}
	if r.pipe != nil {
		r.pipe.Close()
	}
}

// drain reads everything pending without blocking.
func (r *readiness) drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sock != nil && !r.sock.Closed() {
		n := r.sock.Raw()
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(253*4)+unix.CmsgSpace(unix.SizeofUcred))
		for {
			k, oobn, _, _, err := sys.Recvmsg(n, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
			if err != nil {
				break
			}
			r.message(string(buf[:k]), oob[:oobn])
		}
	}
	if r.pipe != nil && !r.pipe.Closed() && !r.pipeEOF {
		n := r.pipe.Raw()
		buf := make([]byte, 512)
		for {
			k, err := sys.Read(n, buf)
			if err != nil {
				break
			}
			if k == 0 {
				r.pipeEOF = true
				break
			}
			if strings.IndexByte(string(buf[:k]), '\n') >= 0 && !r.st.Ready {
				r.st.Ready, r.st.Via = true, "notify_fd"
			}
		}
	}
}

func (r *readiness) message(msg string, oob []byte) {
	var fds []int
	var cred *unix.Ucred
	if cms, err := unix.ParseSocketControlMessage(oob); err == nil {
		for _, cm := range cms {
			if rights, err := unix.ParseUnixRights(&cm); err == nil {
				fds = append(fds, rights...)
			} else if c, err := unix.ParseUnixCredentials(&cm); err == nil {
				cred = c
			}
		}
	}
	if cred == nil || (cred.Uid != 0 && cred.Uid != r.uid && cred.Uid != uint32(os.Geteuid())) {
		r.dropped++
		for _, f := range fds {
			unix.Close(f)
		}
		return
	}
	store, name := false, "stored"
	for _, line := range strings.Split(msg, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		r.st.Vars[k] = v
		switch k {
		case "READY":
			if v == "1" && !r.st.Ready {
				r.st.Ready, r.st.Via = true, "notify_socket"
			}
		case "STATUS":
			r.st.Status = v
		case "FDSTORE":
			store = v == "1"
		case "FDNAME":
			name = v
		}
	}
	for _, f := range fds {
		if !store {
			unix.Close(f) // as systemd does with fds sent without FDSTORE=1
			continue
		}
		r.st.Fds = append(r.st.Fds, fdio.Own(f))
		r.st.FdNames = append(r.st.FdNames, name)
	}
}

// ReadyFds are the descriptors to poll while waiting for readiness (the
// pidfd should be polled too, to notice a child that exits first).
func (p *Proc) ReadyFds() []*fdio.FD {
	if p.ready == nil {
		return nil
	}
	var out []*fdio.FD
	if p.ready.sock != nil && !p.ready.sock.Closed() {
		out = append(out, p.ready.sock)
	}
	if p.ready.pipe != nil && !p.ready.pipe.Closed() && !p.ready.pipeEOF {
		out = append(out, p.ready.pipe)
	}
	return out
}

// TryReady returns the child's readiness once it said READY=1 (or wrote
// its newline), EAGAIN while it has not, and an error when it cannot any
// more (it exited, or closed its notify_fd). Fds stored with FDSTORE=1
// are handed out once: the caller owns them.
func (p *Proc) TryReady() (*Ready, error) {
	r := p.ready
	if r == nil {
		return nil, sys.Errorf("ready", p.addr(), unix.EINVAL, "the process was not started with notify=true or notify_fd=N")
	}
	r.drain()
	r.mu.Lock()
	if r.st.Ready {
		out := r.st
		out.Vars = make(map[string]string, len(r.st.Vars))
		for k, v := range r.st.Vars {
			out.Vars[k] = v
		}
		r.st.Fds, r.st.FdNames = nil, nil
		r.mu.Unlock()
		return &out, nil
	}
	pipeGone := r.pipeEOF && r.sock == nil
	status := r.st.Status
	r.mu.Unlock()
	if s, err := p.TryWait(); err == nil {
		r.mu.Lock()
		ready := r.st.Ready
		r.mu.Unlock()
		if ready {
			return p.TryReady()
		}
		return nil, sys.Errorf("ready", p.addr(), unix.ECHILD, "the process ended (%s) before it said it was ready%s", s, statusNote(status))
	}
	if pipeGone {
		return nil, sys.Errorf("ready", p.addr(), unix.EPIPE, "the process closed its notify_fd without writing a newline%s", statusNote(status))
	}
	return nil, fdio.ErrAgain
}

func statusNote(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("; last STATUS=%s", s)
}

// WaitReady blocks until TryReady stops returning EAGAIN (for Go callers
// without a loop); a zero timeout waits forever.
func (p *Proc) WaitReady(timeout time.Duration) (*Ready, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		st, err := p.TryReady()
		if !fdio.IsAgain(err) {
			return st, err
		}
		var pfds []unix.PollFd
		for _, f := range append(p.ReadyFds(), p.Pidfd) {
			if n := f.Raw(); n >= 0 {
				pfds = append(pfds, unix.PollFd{Fd: int32(n), Events: unix.POLLIN})
			}
		}
		ms := -1
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, fdio.TimeoutError("ready", timeout)
			}
			ms = int(left/time.Millisecond) + 1
		}
		if _, err := sys.Poll(pfds, ms); err != nil {
			return nil, err
		}
	}
}
