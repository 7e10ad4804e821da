package sock

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// MaxFdsPerMessage is the kernel's SCM_MAX_FD: a message carrying more
// descriptors fails with EINVAL (or worse, on some paths, loses them).
const MaxFdsPerMessage = 253

// TypeOf returns SO_TYPE of s, asking the kernel once per handle.
func TypeOf(s *fdio.FD) (int, error) {
	k, err := kindOf(s)
	return k & 0xffff, err
}

// typeFor is TypeOf for the operation op: an error (ENOTSOCK: not a
// socket) names op, the call the user made, not the SO_TYPE lookup.
func typeFor(op string, s *fdio.FD) (int, error) {
	t, err := TypeOf(s)
	if err != nil {
		return 0, relabel(err, op, sys.FdAddr(s.Raw()))
	}
	return t, nil
}

// kindOf is SO_DOMAIN<<16 | SO_TYPE, asked once per handle (neither can
// change) and cached in the handle.
func kindOf(s *fdio.FD) (int, error) {
	return s.CachedSockType(func() (int, error) {
		t, err := SocketType(s)
		if err != nil {
			return 0, err
		}
		n, err := s.Num()
		if err != nil {
			return 0, err
		}
		d, err := sys.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_DOMAIN, "SO_DOMAIN")
		if err != nil {
			return 0, err
		}
		return d<<16 | t, nil
	})
}

// CanCarryFds fails unless s is an AF_UNIX socket: only those carry
// SCM_RIGHTS. On TCP or UDP the kernel sends the data and drops the
// descriptors without a word, so sendfds refuses before the syscall.
func CanCarryFds(s *fdio.FD) error {
	k, err := kindOf(s)
	if err != nil {
		return err
	}
	if dom := k >> 16; dom != unix.AF_UNIX {
		name := map[int]string{unix.AF_INET: "an AF_INET", unix.AF_INET6: "an AF_INET6", unix.AF_NETLINK: "an AF_NETLINK"}[dom]
		if name == "" {
			name = fmt.Sprintf("a domain %d", dom)
		}
		return sys.Errorf("sendfds", fdio.Describe(s), unix.EOPNOTSUPP,
			"%s socket cannot carry descriptors: only AF_UNIX sockets pass SCM_RIGHTS, and this one would send the data and drop the descriptors", name)
	}
	return nil
}

// TrySendFds sends fds with data in one sendmsg, or returns EAGAIN when the
// socket's buffer is full. On a stream socket an empty payload becomes one
// NUL byte, because the kernel drops descriptors sent with no data. It
// returns how many bytes of data went out; the descriptors travel with the
// first byte, so a caller finishing a short stream write sends no more fds.
func TrySendFds(s *fdio.FD, fds []*fdio.FD, data []byte) (int, error) {
	return trySend(s, len(fds), func(dst []int) ([]int, int, bool) { return fdio.AppendNums(dst, fds) }, data)
}

// TrySendBatch is TrySendFds for the descriptors of an fdio.Batch, read as
// numbers: no handle is made for the entries that have none.
func TrySendBatch(s *fdio.FD, b *fdio.Batch, data []byte) (int, error) {
	return trySend(s, b.Len(), b.AppendNums, data)
}

// TrySendNums is TrySendFds for descriptor numbers the caller has just
// read from handles it checked open (with nothing run in between that
// could close them).
func TrySendNums(s *fdio.FD, nums []int, data []byte) (int, error) {
	return trySend(s, len(nums), func(dst []int) ([]int, int, bool) { return append(dst, nums...), -1, true }, data)
}

// trySend sends the k descriptors that appendNums reads (at this try, so
// a handle closed while the caller waited is refused, not sent).
func trySend(s *fdio.FD, k int, appendNums func([]int) ([]int, int, bool), data []byte) (int, error) {
	n, err := s.Num()
	if err != nil {
		return 0, err
	}
	if k > MaxFdsPerMessage {
		return 0, sys.Errorf("sendfds", sys.FdAddr(n), unix.EINVAL,
			"%d fds in one message: the kernel accepts at most %d (SCM_MAX_FD); split them over several messages", k, MaxFdsPerMessage)
	}
	// The numbers and the SCM_RIGHTS buffer are scratch space reused
	// across calls: nothing is allocated per message on this path.
	sc := sendScratchPool.Get().(*sendScratch)
	defer sendScratchPool.Put(sc)
	nums, bad, ok := appendNums(sc.nums[:0])
	sc.nums = nums
	if !ok {
		return 0, sys.Errorf("sendfds", sys.FdAddr(n), unix.EBADF, "fds[%d] is a closed handle", bad+1)
	}
	typ, err := typeFor("sendfds", s)
	if err != nil {
		return 0, err
	}
	if k > 0 {
		if err := CanCarryFds(s); err != nil {
			return 0, err
		}
	}
	// Descriptors need a byte of data to travel with on a stream or
	// seqpacket socket (x/sys's Sendmsg, used before, added the same NUL to
	// seqpacket messages); the count returned stays 0 for seqpacket.
	dummy := false
	if len(data) == 0 && typ != unix.SOCK_DGRAM && k > 0 {
		data = nulByte[:]
		dummy = typ != unix.SOCK_STREAM
	}
	var oob []byte
	if len(nums) > 0 {
		oob = sc.rights(nums)
	}
	w, err := sys.SendmsgDontwait(n, data, oob, unix.MSG_NOSIGNAL)
	if dummy {
		w = 0
	}
	if err != nil {
		if fdio.IsAgain(err) {
			return 0, fdio.ErrAgain
		}
		return 0, sys.Wrap("sendfds", sys.FdAddr(n), unwrapErrno(err))
	}
	return w, nil
}

var nulByte = [1]byte{0}

// sendScratch is one send's descriptor numbers and control message.
type sendScratch struct {
	nums []int
	oob  []byte
}

var sendScratchPool = sync.Pool{New: func() any { return &sendScratch{} }}

// rights builds the SCM_RIGHTS control message for nums in sc's buffer.
func (sc *sendScratch) rights(nums []int) []byte {
	l := unix.CmsgSpace(4 * len(nums))
	if cap(sc.oob) < l {
		sc.oob = make([]byte, unix.CmsgSpace(4*MaxFdsPerMessage))
	}
	oob := sc.oob[:l]
	clear(oob)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.SOL_SOCKET
	h.Type = unix.SCM_RIGHTS
	h.SetLen(unix.CmsgLen(4 * len(nums)))
	data := oob[unix.CmsgLen(0):]
	for i, n := range nums {
		binary.NativeEndian.PutUint32(data[4*i:], uint32(n))
	}
	return oob
}

// Message is what one recvmsg delivered.
type Message struct {
	Data []byte
	Fds  []*fdio.FD
	// Nums are the descriptors as raw owned numbers instead of Fds, when
	// the receive asked for them (RecvOptions.Raw): for a caller that
	// adopts them as one fdio.Batch and makes no handle per descriptor.
	Nums []int32
	// EOF is set when the peer has closed (or shut down writing) and
	// nothing was read; an empty datagram has EOF false and Data empty.
	EOF bool
	// Truncated is MSG_TRUNC: a datagram was longer than the buffer.
	Truncated bool
	// Creds is SCM_CREDENTIALS, when SO_PASSCRED is on.
	Creds *unix.Ucred
	// Pidfd is SCM_PIDFD, when SO_PASSPIDFD is on.
	Pidfd *fdio.FD
	// ctl is TryRecvFdsInto's control buffer, kept with the message it
	// is reused for (no pool round trip per receive).
	ctl []byte
}

// RecvOptions sizes a receive.
type RecvOptions struct {
	MaxFds  int // room for this many descriptors (default 253)
	MaxData int // room for this many bytes of data (default 4096)
	// NoFds receives with no room for descriptors at all: any that were
	// sent are closed by the kernel and reported as MSG_CTRUNC.
	NoFds bool
	// Raw delivers the descriptors in Message.Nums, not as handles.
	Raw bool
}

// TryRecvFds receives one message with its descriptors, close-on-exec
// (MSG_CMSG_CLOEXEC), or returns EAGAIN when nothing is queued.
//
// The control buffer holds exactly MaxFds descriptors. If the sender sent
// more, or this process's descriptor table is full (EMFILE, ENFILE), the
// kernel sets MSG_CTRUNC and closes the ones that did not fit; they are
// lost for good, so TryRecvFds closes the ones that did arrive and fails
// loudly rather than hand over half a message. The message's data bytes
// were consumed with it: the error keeps them (Facts "data"), with
// "arrived", the count of descriptors that arrived and were closed.
func TryRecvFds(s *fdio.FD, o RecvOptions) (*Message, error) {
	o, oobLen := o.sized()
	// The receive buffers are reused scratch space (a fresh 4 KiB buffer
	// per message was most of this call's garbage); the data is copied out.
	sc := getScratch(o.MaxData, oobLen)
	defer putScratch(sc)
	m := &Message{}
	if err := tryRecv(s, o, m, sc.data[:o.MaxData], sc.oob[:oobLen]); err != nil {
		return nil, err
	}
	m.Data = append([]byte(nil), m.Data...)
	return m, nil
}

// TryRecvFdsInto is TryRecvFds for a caller that receives message after
// message into one Message: m is overwritten, and m.Data is read into
// m.Data's own backing array (grown to MaxData when it is smaller), so
// the data is valid until the next receive into m, and a receive makes
// no Message, data copy or number list of its own (m.Nums keeps its
// array too, and m.Fds its list, whose handles are new each time).
// Everything else is TryRecvFds's, errors included (an
// error's data fact is a copy).
func TryRecvFdsInto(s *fdio.FD, o RecvOptions, m *Message) error {
	o, oobLen := o.sized()
	clear(m.Fds) // the last message's handles are not kept alive here
	buf, nums, fds, ctl := m.Data[:cap(m.Data)], m.Nums[:0], m.Fds[:0], m.ctl
	if len(buf) < o.MaxData {
		buf = make([]byte, o.MaxData)
	}
	if len(ctl) < oobLen {
		ctl = make([]byte, unix.CmsgLen(4*MaxFdsPerMessage)+unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4))
	}
	*m = Message{Data: buf[:0], Nums: nums, Fds: fds, ctl: ctl}
	return tryRecv(s, o, m, buf[:o.MaxData], ctl[:oobLen])
}

// sized is o with its defaults filled in, and the control buffer length
// it needs.
func (o RecvOptions) sized() (RecvOptions, int) {
	if o.MaxFds <= 0 && !o.NoFds {
		o.MaxFds = MaxFdsPerMessage
	}
	if o.MaxData <= 0 {
		o.MaxData = 4096
	}
	oobLen := 0
	if o.MaxFds > 0 {
		oobLen = unix.CmsgLen(4 * o.MaxFds)
	}
	// Room for SCM_CREDENTIALS and SCM_PIDFD is always reserved: the
	// kernel puts them before SCM_RIGHTS when SO_PASSCRED / SO_PASSPIDFD
	// are on (set by anyone sharing the socket), where they would eat the
	// room meant for descriptors, and asking whether they are on costs two
	// getsockopt calls per message. The extra room would fit a few
	// descriptors beyond MaxFds; more than MaxFds is refused below exactly
	// as a kernel truncation is.
	oobLen += unix.CmsgSpace(unix.SizeofUcred) + unix.CmsgSpace(4)
	return o, oobLen
}

// tryRecv is one receive into m (zero but for the Nums array to append
// to) with buf and oob as its buffers; m.Data is a slice of buf, except
// in an error, which keeps a copy.
func tryRecv(s *fdio.FD, o RecvOptions, m *Message, buf, oob []byte) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	typ, err := typeFor("recvfds", s)
	if err != nil {
		return err
	}
	r, oobn, flags, err := sys.RecvmsgDontwait(n, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		if fdio.IsAgain(err) {
			return fdio.ErrAgain
		}
		return sys.Wrap("recvfds", sys.FdAddr(n), unwrapErrno(err))
	}
	m.Data, m.Truncated = buf[:r], flags&unix.MSG_TRUNC != 0
	if err := parseControl(oob[:oobn], m, o.Raw); err != nil {
		m.closeAll()
		return sys.Wrap("recvfds", sys.FdAddr(n), err)
	}
	if flags&unix.MSG_CTRUNC != 0 || m.count() > o.MaxFds {
		m.Data = append([]byte(nil), m.Data...) // the error keeps it
		return truncated(n, m, o)
	}
	if r == 0 && m.count() == 0 && m.Creds == nil {
		switch typ {
		case unix.SOCK_STREAM:
			m.EOF = true
		case unix.SOCK_SEQPACKET:
			// A zero-length seqpacket message and end-of-stream both read
			// as 0 bytes; only the peer's shutdown state tells them apart.
			// Asked only here, after the read, so a message with data or
			// descriptors costs one system call, not two.
			rev, err := fdio.Ready(n, unix.POLLRDHUP)
			if err != nil {
				m.closeAll()
				return err
			}
			m.EOF = rev&(unix.POLLRDHUP|unix.POLLHUP) != 0
		}
	}
	return nil
}

// truncated builds the error of a receive whose descriptors did not all
// fit, and closes the ones that did.
func truncated(n int, m *Message, o RecvOptions) error {
	return truncatedOp("recvfds", n, m, o)
}

// truncatedOp is truncated for the call op (recvfds_many reports each
// message the way recvfds reports its one).
func truncatedOp(op string, n int, m *Message, o RecvOptions) error {
	// Those beyond MaxFds arrived only in the reserved room; the count
	// reported is what a buffer of MaxFds would have taken.
	got := min(m.count(), o.MaxFds)
	e := &sys.Error{Op: op, Addr: sys.FdAddr(n), Label: "MSG_CTRUNC",
		Facts: map[string]any{"data": m.Data, "arrived": got, "truncated": m.Truncated}}
	// With room left in the buffer the kernel stopped for another reason:
	// the descriptor table is full. A probe dup, while the arrived ones
	// are still held, tells EMFILE (this process's RLIMIT_NOFILE) from
	// ENFILE (the system's file-max).
	full := unix.Errno(0)
	if got < o.MaxFds && !o.NoFds {
		if d, err := sys.DupCloexec(n); err != nil {
			full = sys.ErrnoOf(err)
		} else {
			sys.Close(d)
		}
	}
	m.closeAll()
	switch full {
	case unix.EMFILE, unix.ENFILE:
		lim := "the system-wide file-max"
		if full == unix.EMFILE {
			lim = "this process's RLIMIT_NOFILE"
			if cur, _, err := sys.Getrlimit(unix.RLIMIT_NOFILE); err == nil {
				lim += fmt.Sprintf(" (%d)", cur)
			}
		}
		e.Label, e.Err = "", full
		e.Hint = fmt.Sprintf("the descriptor table is full (%s): the kernel dropped the received descriptors that did not fit; %d arrived and were closed, and the message's %d data bytes are in the error's data field", lim, got, len(m.Data))
	case 0:
		if o.NoFds {
			e.Hint = fmt.Sprintf("the message carried descriptors and this receive had no room for any (max = 0): the kernel closed them; its %d data bytes are in the error's data field", len(m.Data))
		} else {
			e.Hint = fmt.Sprintf("the sender sent more descriptors than the %d this receive had room for; the kernel closed the ones that did not fit, so the message's descriptors are lost (%d arrived and were closed); its %d data bytes are in the error's data field; receive with a larger max", o.MaxFds, got, len(m.Data))
		}
	default:
		e.Hint = fmt.Sprintf("the kernel delivered %d of the message's descriptors and dropped the rest (a security module may have refused them); the %d that arrived were closed; the message's %d data bytes are in the error's data field", got, got, len(m.Data))
	}
	return e
}

// scratch is one receive's buffers, pooled across calls.
type scratch struct{ data, oob []byte }

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

func getScratch(data, oob int) *scratch {
	sc := scratchPool.Get().(*scratch)
	if cap(sc.data) < data {
		sc.data = make([]byte, data)
	}
	if cap(sc.oob) < oob {
		sc.oob = make([]byte, oob)
	}
	return sc
}

// putScratch keeps buffers of ordinary size only, so one huge receive does
// not pin its buffer for the life of the process.
func putScratch(sc *scratch) {
	if cap(sc.data) > 1<<16 {
		sc.data = nil
	}
	scratchPool.Put(sc)
}

func parseControl(oob []byte, m *Message, raw bool) error {
	// Read in place (eachCmsg: unix.ParseSocketControlMessage allocated a
	// slice per message), the ints too (ParseUnixRights would allocate a
	// []int), and the handles made in one slab.
	eachCmsg(oob, func(level, typ int32, data []byte) {
		if level != unix.SOL_SOCKET {
			return
		}
		switch typ {
		case unix.SCM_RIGHTS:
			nums := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(data))), len(data)/4)
			switch {
			case raw:
				m.Nums = append(m.Nums, nums...)
			case m.Fds == nil:
				m.Fds = fdio.OwnMany(nums)
			default: // a second SCM_RIGHTS, or TryRecvFdsInto's reused list
				m.Fds = fdio.AppendOwned(m.Fds, nums)
			}
		case unix.SCM_CREDENTIALS, unix.SCM_PIDFD:
			parseCredsOrPidfd(typ, data, m)
		}
	})
	return nil
}

// parseCredsOrPidfd reads an SCM_CREDENTIALS or SCM_PIDFD payload into m.
func parseCredsOrPidfd(typ int32, data []byte, m *Message) {
	switch typ {
	case unix.SCM_CREDENTIALS:
		if len(data) >= unix.SizeofUcred {
			c := *(*unix.Ucred)(unsafe.Pointer(&data[0]))
			m.Creds = &c
		}
	case unix.SCM_PIDFD:
		if len(data) >= 4 {
			if v := int(int32(binary.NativeEndian.Uint32(data))); v >= 0 {
				m.Pidfd = fdio.Own(v)
			}
		}
	}
}

// count is how many descriptors arrived, as handles or numbers.
func (m *Message) count() int { return len(m.Fds) + len(m.Nums) }

func (m *Message) closeAll() {
	for _, f := range m.Fds {
		f.Close()
	}
	for _, n := range m.Nums {
		sys.Close(int(n))
	}
	m.Fds, m.Nums = nil, nil
	if m.Pidfd != nil {
		m.Pidfd.Close()
		m.Pidfd = nil
	}
}

func unwrapErrno(err error) error {
	if se, ok := err.(*sys.Error); ok && se.Errno() != 0 {
		return se.Errno()
	}
	return err
}

// PeerCred is who is at the other end of a unix socket.
type PeerCred struct {
	Pid, Uid, Gid int
	// Pidfd is SO_PEERPIDFD (Linux 6.5+), nil when the kernel lacks it.
	Pidfd *fdio.FD
}

// Peer reads SO_PEERCRED and, where the kernel has it, SO_PEERPIDFD.
func Peer(s *fdio.FD) (*PeerCred, error) {
	n, err := s.Num()
	if err != nil {
		return nil, err
	}
	c, err := sys.GetsockoptUcred(n)
	if err != nil {
		return nil, err
	}
	p := &PeerCred{Pid: int(c.Pid), Uid: int(c.Uid), Gid: int(c.Gid)}
	if pfd, err := sys.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_PEERPIDFD, "SO_PEERPIDFD"); err == nil && pfd >= 0 {
		p.Pidfd = fdio.Own(pfd)
	}
	return p, nil
}
