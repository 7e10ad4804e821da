package proc

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/reap"
	"github.com/fdwire/fdwire/runtime/sock"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Readiness. notify=true gives the child NOTIFY_SOCKET, the path of a
// private datagram socket, /tmp/fdwire-notify-RANDOM/notify: short
// whatever $TMPDIR is (libsystemd refuses paths of 108 bytes or more),
// in a directory anyone may enter but not list (0711), the socket itself
// 0777, so a child reaches it whatever uid it drops to, and, being a
// path, from a network namespace of its own too (an abstract name would
// not be). Being reachable by anyone is why messages are authenticated:
// SO_PASSCRED is on, so the kernel tells each message's sender pid; a
// message counts only when that pid is the child, a descendant of it, a
// member of the session it leads, or a process in its cgroup when it has
// one of its own (systemd's NotifyAccess=all, bounded to the child), never
// by uid, since a child may drop to any uid. Others are dropped and
// counted.
//
// The socket is drained from spawn to reaping by a goroutine of its own,
// so a chatty child never blocks in sd_notify: READY=1, STATUS=,
// WATCHDOG=1, RELOADING=1, STOPPING=1 and every other KEY=VALUE are
// recorded, BARRIER=1 is answered by closing the descriptor it carries
// (as with every descriptor sent without FDSTORE=1), and FDSTORE=1 keeps
// the descriptors with their FDNAME= until Proc.TakeFdstore. Messages are
// received by sock.TryRecvFds, the one recvmsg and control-message parser
// of the runtime (room for 253 descriptors, the credentials and SCM_PIDFD).
//
// notify_fd=N is the s6 convention: the child writes a newline to N.

// logMax bounds the messages a Ready remembers (the counters keep going).
const logMax = 64

// Ready is what a child has said about itself so far.
type Ready struct {
	Ready   bool
	Status  string            // the last STATUS=
	Vars    map[string]string // the last value of every KEY=VALUE
	Fds     []*fdio.FD        // fds sent with FDSTORE=1 and not yet taken
	FdNames []string          // FDNAME= of each (default "stored")
	Via     string            // "notify_socket" or "notify_fd"
	// Messages counts the accepted messages; Dropped those refused (a
	// sender outside the child, a truncated or unreadable message).
	Messages, Dropped int
	// Watchdog counts WATCHDOG=1 keep-alives; Reloading and Stopping are
	// the last RELOADING=1 / STOPPING=1 state (READY=1 ends a reload).
	Watchdog            int
	Reloading, Stopping bool
	// Stored counts the FDSTORE=1 descriptors held now (Fds is filled
	// only when they are handed out).
	Stored int
	// Log is the last messages, each "pid N: text" (newlines as "\n"),
	// dropped ones as "dropped pid N: reason".
	Log []string
}

type readiness struct {
	mu      sync.Mutex
	sock    *fdio.FD
	addr    string
	dir     string // the socket's private directory, removed by close
	pipe    *fdio.FD
	pipeEOF bool
	st      Ready

	// Who may speak for the child (set by start).
	pid     int
	session bool   // the child leads its own session
	cgroup  string // the child's own cgroup ("" when it shares fdwire's)
	// shared is the owner's children cgroup, which the child shares with
	// its siblings: like fdwire's own, it is not the child's (cgroup.go).
	shared   string
	cgroupID uint64 // its id (the directory's inode), 0 when unknown

	// changed is an eventfd the drainer bumps after each accepted
	// message, for pollers (Proc.ReadyFds); stop ends the drainer.
	changed, stop *fdio.FD
	done          chan struct{}
	closed        bool
	// warden, when set, removes dir if fdwire is killed before it does.
	warden *reap.Warden
}

func newReadiness(socket bool, warden *reap.Warden) (*readiness, error) {
	r := &readiness{st: Ready{Vars: map[string]string{}}}
	if !socket {
		return r, nil
	}
	n, err := sys.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil, err
	}
	f := fdio.Own(n)
	dir, err := notifyDir()
	if err != nil {
		f.Close()
		return nil, err
	}
	r.dir, r.addr = dir, dir+"/notify"
	if warden != nil && warden.Watch("dir", dir) == nil {
		r.warden = warden
	}
	if err := sys.SetsockoptInt(n, unix.SOL_SOCKET, unix.SO_PASSCRED, 1, "SO_PASSCRED"); err != nil {
		f.Close()
		r.removeDir()
		return nil, err
	}
	if err := sys.Bind(n, &unix.SockaddrUnix{Name: r.addr}, r.addr); err != nil {
		f.Close()
		r.removeDir()
		return nil, err
	}
	if err := sys.Chmod(r.addr, 0o777); err != nil {
		f.Close()
		r.removeDir()
		return nil, err
	}
	r.sock = f
	// SCM_PIDFD (Linux 6.5+) pins each sender, so one that exits before
	// its message is read can still be placed in the child's cgroup.
	sys.SetsockoptInt(n, unix.SOL_SOCKET, unix.SO_PASSPIDFD, 1, "SO_PASSPIDFD")
	for _, p := range []**fdio.FD{&r.changed, &r.stop} {
		e, err := sys.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			r.close()
			return nil, err
		}
		*p = fdio.Own(e)
	}
	return r, nil
}

// start learns who the child is and starts draining its socket.
func (r *readiness) start(pid int, setsid bool, pidfd *fdio.FD) {
	r.mu.Lock()
	r.pid, r.session = pid, setsid
	if own, ok := cgroupOf(os.Getpid()); ok {
		if cg, ok := cgroupOf(pid); ok && cg != own && cg != r.shared {
			r.cgroup = cg
			if n := pidfd.Raw(); n >= 0 {
				if info, err := sys.PidfdGetInfo(n, sys.PidfdInfoCgroupID); err == nil && info.Mask&sys.PidfdInfoCgroupID != 0 {
					r.cgroupID = info.CgroupID
				}
			}
		}
	}
	r.mu.Unlock()
	if r.sock == nil {
		return
	}
	r.done = make(chan struct{})
	go r.serve()
}

// serve drains the socket whenever it is readable, until stop.
func (r *readiness) serve() {
	defer close(r.done)
	sn, en := r.sock.Raw(), r.stop.Raw()
	for {
		pfds := []unix.PollFd{{Fd: int32(sn), Events: unix.POLLIN}, {Fd: int32(en), Events: unix.POLLIN}}
		if _, err := sys.Poll(pfds, -1); err != nil {
			return
		}
		if pfds[1].Revents != 0 {
			return
		}
		r.drain()
	}
}

// setPipe takes the read end of the notify_fd pipe. It is private to
// this process, so making its description non-blocking is safe.
func (r *readiness) setPipe(f *fdio.FD) {
	f.SetNonblock(true)
	r.pipe = f
}

// close stops the drainer and closes the channel. Descriptors stored
// with FDSTORE=1 stay until TakeFdstore or closeFdstore.
func (r *readiness) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	done := r.done
	if r.stop != nil {
		if n := r.stop.Raw(); n >= 0 {
			sys.Write(n, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
	}
	r.mu.Unlock()
	if done != nil {
		<-done
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range []*fdio.FD{r.sock, r.pipe, r.changed, r.stop} {
		if f != nil {
			f.Close()
		}
	}
	r.removeDir()
}

// notifyDir makes the socket's directory in the first of /tmp, /dev/shm
// and $TMPDIR that is a world-writable sticky directory (so that any uid
// can reach into it) with a short enough name.
func notifyDir() (string, error) {
	var lastErr error = sys.Errorf("notify", "", unix.ENOENT, "no directory for the notify socket: /tmp and /dev/shm are missing or not 1777, and $TMPDIR is too long")
	for _, base := range []string{"/tmp", "/dev/shm", os.TempDir()} {
		var st unix.Stat_t
		if sys.Stat(base, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o1777 != 0o1777 {
			continue
		}
		if len(base)+len("/fdwire-notify-1234567890/notify") > 107 {
			continue
		}
		dir, err := os.MkdirTemp(base, "fdwire-notify-")
		if err != nil {
			lastErr = sys.Wrap("mkdtemp", base, err)
			continue
		}
		if err := sys.Chmod(dir, 0o711); err != nil {
			os.Remove(dir)
			return "", err
		}
		return dir, nil
	}
	return "", lastErr
}

func (r *readiness) removeDir() {
	if r.dir != "" {
		sys.Unlink(r.addr)
		os.Remove(r.dir)
		if r.warden != nil {
			r.warden.Unwatch(r.dir)
		}
		r.dir = ""
	}
}

func (r *readiness) closeFdstore() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.st.Fds {
		f.Close()
	}
	r.st.Fds, r.st.FdNames = nil, nil
}

// drain reads everything pending without blocking.
func (r *readiness) drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sock != nil && !r.sock.Closed() {
		got := false
		for {
			m, err := sock.TryRecvFds(r.sock, sock.RecvOptions{MaxData: 4096})
			if fdio.IsAgain(err) {
				break
			}
			if err != nil {
				// MSG_CTRUNC and the like: the message is gone whole.
				r.drop(0, err.Error())
				continue
			}
			if r.message(m) {
				got = true
			}
		}
		if got && r.changed != nil {
			if n := r.changed.Raw(); n >= 0 {
				sys.Write(n, []byte{1, 0, 0, 0, 0, 0, 0, 0})
			}
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

func (r *readiness) log(s string) {
	if len(r.st.Log) >= logMax {
		r.st.Log = append(r.st.Log[:0], r.st.Log[1:]...)
	}
	r.st.Log = append(r.st.Log, s)
}

func (r *readiness) drop(pid int, why string) {
	r.st.Dropped++
	r.log(fmt.Sprintf("dropped pid %d: %s", pid, why))
}

// message handles one datagram; it reports whether it was accepted.
func (r *readiness) message(m *sock.Message) bool {
	closeAll := func() {
		for _, f := range m.Fds {
			f.Close()
		}
		if m.Pidfd != nil {
			m.Pidfd.Close()
		}
	}
	var senderFd *fdio.FD
	if m.Pidfd != nil {
		senderFd = m.Pidfd
		defer senderFd.Close()
		m.Pidfd = nil
	}
	pid := 0
	if m.Creds != nil {
		pid = int(m.Creds.Pid)
	}
	if m.Truncated {
		closeAll()
		r.drop(pid, "message longer than 4096 bytes")
		return false
	}
	if why := r.refuse(pid, senderFd); why != "" {
		closeAll()
		r.drop(pid, why)
		return false
	}
	msg := string(m.Data)
	r.st.Messages++
	r.log(fmt.Sprintf("pid %d: %s", pid, strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", `\n`)))
	store, name := false, "stored"
	for _, line := range strings.Split(msg, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		r.st.Vars[k] = v
		switch k {
		case "READY":
			if v == "1" {
				if !r.st.Ready {
					r.st.Ready, r.st.Via = true, "notify_socket"
				}
				r.st.Reloading = false
			}
		case "STATUS":
			r.st.Status = v
		case "WATCHDOG":
			if v == "1" {
				r.st.Watchdog++
			}
		case "RELOADING":
			r.st.Reloading = v == "1"
		case "STOPPING":
			r.st.Stopping = v == "1"
		case "FDSTORE":
			store = v == "1"
		case "FDNAME":
			name = v
		}
	}
	for _, f := range m.Fds {
		if !store {
			// As systemd does with fds sent without FDSTORE=1; closing the
			// one BARRIER=1 carries is what answers the barrier.
			f.Close()
			continue
		}
		r.st.Fds = append(r.st.Fds, f)
		r.st.FdNames = append(r.st.FdNames, name)
	}
	return true
}

// refuse says why pid may not speak for the child ("" when it may).
// pidfd is the sender's SCM_PIDFD, or nil.
func (r *readiness) refuse(pid int, pidfd *fdio.FD) string {
	if pid <= 0 {
		return "no sender credentials"
	}
	if pid == r.pid {
		return ""
	}
	st, ok := readStat(pid)
	if !ok {
		// Gone (exited and reaped) before its message was read: its
		// pidfd still tells the cgroup it died in (Linux 6.15+).
		if pidfd != nil && r.cgroupID != 0 {
			if n := pidfd.Raw(); n >= 0 {
				info, err := sys.PidfdGetInfo(n, sys.PidfdInfoCgroupID|sys.PidfdInfoExit)
				if err == nil && info.Mask&sys.PidfdInfoCgroupID != 0 && info.CgroupID == r.cgroupID {
					return ""
				}
			}
		}
		return "the sender is gone, so it cannot be told apart from a stranger"
	}
	if r.session && st.sid == r.pid {
		return ""
	}
	if r.cgroup != "" {
		if cg, ok := cgroupOf(pid); ok && (cg == r.cgroup || strings.HasPrefix(cg, r.cgroup+"/")) {
			return ""
		}
	}
	for p, i := st.ppid, 0; p > 1 && i < 64; i++ {
		if p == r.pid {
			return ""
		}
		s, ok := readStat(p)
		if !ok {
			break
		}
		p = s.ppid
	}
	return fmt.Sprintf("not the child (pid %d), nor in its session, cgroup or descendants", r.pid)
}

type statLine struct{ ppid, sid int }

// readStat reads ppid and session id from /proc/PID/stat (fields 4, 6,
// after the parenthesised name, which may hold spaces and parentheses).
func readStat(pid int) (statLine, bool) {
	b, err := sys.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return statLine{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return statLine{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 4 {
		return statLine{}, false
	}
	var st statLine
	fmt.Sscan(f[1], &st.ppid)
	fmt.Sscan(f[3], &st.sid)
	return st, true
}

// cgroupOf is the cgroup v2 path of pid ("0::/path" in /proc/PID/cgroup).
func cgroupOf(pid int) (string, bool) {
	b, err := sys.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, true
		}
	}
	return "", false
}

// ReadyFds are the descriptors to poll while waiting for readiness or
// for news (the pidfd should be polled too, to notice a child that exits
// first): an eventfd bumped after each accepted notify message, and the
// notify_fd pipe.
func (p *Proc) ReadyFds() []*fdio.FD {
	if p.ready == nil {
		return nil
	}
	var out []*fdio.FD
	if p.ready.changed != nil && !p.ready.changed.Closed() {
		out = append(out, p.ready.changed)
	}
	if p.ready.pipe != nil && !p.ready.pipe.Closed() && !p.ready.pipeEOF {
		out = append(out, p.ready.pipe)
	}
	return out
}

// snapshot copies the state; stored fds are moved out when take is set.
func (r *readiness) snapshot(take bool) Ready {
	out := r.st
	out.Vars = make(map[string]string, len(r.st.Vars))
	for k, v := range r.st.Vars {
		out.Vars[k] = v
	}
	out.Log = append([]string(nil), r.st.Log...)
	out.Stored = len(r.st.Fds)
	if take {
		r.st.Fds, r.st.FdNames = nil, nil
	} else {
		out.Fds, out.FdNames = nil, nil
	}
	return out
}

// resetChanged clears the news eventfd before the state is looked at,
// so news arriving after the look wakes the next poll.
func (r *readiness) resetChanged() {
	if r.changed != nil {
		if n := r.changed.Raw(); n >= 0 {
			var b [8]byte
			sys.Read(n, b[:])
		}
	}
}

// Notices returns what the child has said so far (without taking the
// stored descriptors), or nil when it was started without notify.
func (p *Proc) Notices() *Ready {
	r := p.ready
	if r == nil {
		return nil
	}
	r.resetChanged()
	r.drain()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snapshot(false)
	return &s
}

// TakeFdstore hands over the descriptors stored with FDSTORE=1 so far
// (the caller owns them) with their names. They outlive the child: the
// socket is closed at reaping, the store only here or by CloseFdstore.
func (p *Proc) TakeFdstore() ([]*fdio.FD, []string) {
	r := p.ready
	if r == nil {
		return nil, nil
	}
	r.drain()
	r.mu.Lock()
	defer r.mu.Unlock()
	fds, names := r.st.Fds, r.st.FdNames
	r.st.Fds, r.st.FdNames = nil, nil
	return fds, names
}

// CloseFdstore closes the stored descriptors nobody took.
func (p *Proc) CloseFdstore() {
	if p.ready != nil {
		p.ready.closeFdstore()
	}
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
	r.resetChanged()
	r.drain()
	r.mu.Lock()
	if r.st.Ready {
		out := r.snapshot(true)
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
// A negative timeout does not wait (ETIMEDOUT unless ready already).
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
		if timeout < 0 { // timeout = 0 in Lua: do not wait
			return nil, fdio.TimeoutError("ready", timeout)
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
