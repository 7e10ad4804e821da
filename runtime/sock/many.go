package sock

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Many messages per system call: sendfds_many and recvfds_many move a list
// of small messages, each with its own descriptors, through sendmmsg(2) and
// recvmmsg(2), so the cost of entering the kernel (and of parking the task
// when the socket is full or empty) is paid once per window, not once per
// message. Each message keeps every guarantee of a single sendfds/recvfds.

// ManyWindow is how many messages one sendmmsg or recvmmsg is given by
// default: enough that the system call's fixed cost vanishes, small enough
// that the headers of a window that the socket's buffer only partly takes
// are cheap to rebuild.
const ManyWindow = 64

// ManySend is one sendfds_many: the messages (Data[i] with the descriptors
// Fds[Ends[i-1]:Ends[i]]) and how far it got. Sent counts the messages the
// peer has whole; it only grows, so an error, a timeout or a cancel can
// say exactly which messages went. A ManySend is reusable (Reset): the
// headers and control buffers are kept, so a steady sender allocates
// nothing per message.
type ManySend struct {
	Op   string // the error's op ("sendfds_many")
	Data [][]byte
	Fds  []*fdio.FD
	Ends []int
	Sent int
	// off is how much of message Sent a stream socket took (its
	// descriptors went with the first byte); the rest is plain data.
	off int

	hs   []unix.Mmsghdr
	iovs []unix.Iovec
	nums []int
	oob  []byte
	typ  int
}

// Reset empties m for another call, keeping its buffers.
func (m *ManySend) Reset() {
	clear(m.Data)
	clear(m.Fds)
	m.Data, m.Fds, m.Ends = m.Data[:0], m.Fds[:0], m.Ends[:0]
	m.Sent, m.off, m.typ = 0, 0, 0
}

// Add appends one message.
func (m *ManySend) Add(data []byte, fds ...*fdio.FD) {
	m.Data = append(m.Data, data)
	m.Fds = append(m.Fds, fds...)
	m.Ends = append(m.Ends, len(m.Fds))
}

// Len is the number of messages.
func (m *ManySend) Len() int { return len(m.Data) }

// MsgFds is message i's descriptors.
func (m *ManySend) MsgFds(i int) []*fdio.FD {
	start := 0
	if i > 0 {
		start = m.Ends[i-1]
	}
	return m.Fds[start:m.Ends[i]]
}

// Check refuses, before anything is sent, what no try could send: a
// message with more than SCM_MAX_FD descriptors, and descriptors on a
// socket that cannot carry them.
func (m *ManySend) Check(s *fdio.FD) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	for i := range m.Data {
		if k := len(m.MsgFds(i)); k > MaxFdsPerMessage {
			return sys.Errorf(m.Op, sys.FdAddr(n), unix.EINVAL,
				"message %d has %d fds: the kernel accepts at most %d per message (SCM_MAX_FD); split them over several messages", i+1, k, MaxFdsPerMessage)
		}
	}
	if len(m.Fds) > 0 {
		if err := CanCarryFds(s); err != nil {
			return err
		}
	}
	return nil
}

// Try sends the messages not yet sent, as many per sendmmsg as the socket
// takes, until all went (nil), the socket is full (fdio.ErrAgain: park and
// call again) or the kernel refuses (the error; Sent says how many went).
// The descriptor numbers are read at each try, so a handle closed while
// the caller waited is refused (EBADF naming the message), never sent as
// whatever that number became.
func (m *ManySend) Try(s *fdio.FD) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	if m.typ == 0 {
		if m.typ, err = typeFor("sendfds_many", s); err != nil {
			return err
		}
	}
	for m.Sent < len(m.Data) {
		if m.off > 0 {
			// A stream took part of message Sent: finish it as plain data.
			w, err := fdio.TryWrite(s, m.Data[m.Sent][m.off:])
			if err != nil {
				return err
			}
			if m.off += w; m.off >= len(m.Data[m.Sent]) {
				m.Sent, m.off = m.Sent+1, 0
			}
			continue
		}
		// On a stream socket a short write of one message followed by the
		// next would tear the stream, and whether sendmmsg stops after a
		// short write is the kernel's choice: one message per call there.
		k := min(len(m.Data)-m.Sent, ManyWindow)
		if m.typ == unix.SOCK_STREAM {
			k = 1
		}
		dummy, err := m.headers(n, k)
		if err != nil {
			return err
		}
		r, err := sys.SendmmsgDontwait(n, m.hs[:k], unix.MSG_NOSIGNAL)
		if err != nil {
			if fdio.IsAgain(err) {
				return fdio.ErrAgain
			}
			return sys.Wrap(m.Op, sys.FdAddr(n), unwrapErrno(err))
		}
		if r == 1 && m.typ == unix.SOCK_STREAM && !dummy {
			if w := int(m.hs[0].Len); w < len(m.Data[m.Sent]) {
				m.off = w
				continue
			}
		}
		m.Sent += r
	}
	return nil
}

// headers fills the first k headers for messages Sent.. (numbers read
// now); dummy reports that message Sent travels with an added NUL byte.
func (m *ManySend) headers(sock, k int) (dummy bool, err error) {
	if cap(m.hs) < k {
		m.hs = make([]unix.Mmsghdr, ManyWindow)
		m.iovs = make([]unix.Iovec, ManyWindow)
	}
	m.hs, m.iovs = m.hs[:k], m.iovs[:k]
	// The numbers of the whole window first, then the control messages,
	// so the oob buffer is sized once and no pointer into it moves.
	m.nums = m.nums[:0]
	start := 0
	if m.Sent > 0 {
		start = m.Ends[m.Sent-1]
	}
	oobLen := 0
	for i := 0; i < k; i++ {
		fds := m.Fds[start:m.Ends[m.Sent+i]]
		start = m.Ends[m.Sent+i]
		var bad int
		var ok bool
		if m.nums, bad, ok = fdio.AppendNums(m.nums, fds); !ok {
			return false, sys.Errorf(m.Op, sys.FdAddr(sock), unix.EBADF, "message %d: fds[%d] is a closed handle", m.Sent+i+1, bad+1)
		}
		if len(fds) > 0 {
			oobLen += unix.CmsgSpace(4 * len(fds))
		}
	}
	if cap(m.oob) < oobLen {
		m.oob = make([]byte, max(oobLen, 2*cap(m.oob)))
	}
	oob := m.oob[:oobLen]
	clear(oob)
	used, ni := 0, 0
	for i := 0; i < k; i++ {
		j := m.Sent + i
		nf := len(m.MsgFds(j))
		h := &m.hs[i]
		*h = unix.Mmsghdr{}
		data := m.Data[j]
		if len(data) == 0 && nf > 0 && m.typ != unix.SOCK_DGRAM {
			// Descriptors need a byte to travel with (as in TrySendFds).
			data = nulByte[:]
			if i == 0 {
				dummy = true
			}
		}
		if len(data) > 0 {
			m.iovs[i] = unix.Iovec{Base: &data[0]}
			m.iovs[i].SetLen(len(data))
			h.Hdr.Iov = &m.iovs[i]
			h.Hdr.Iovlen = 1
		}
		if nf > 0 {
			l := unix.CmsgSpace(4 * nf)
			c := oob[used : used+l]
			ch := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			ch.Level, ch.Type = unix.SOL_SOCKET, unix.SCM_RIGHTS
			ch.SetLen(unix.CmsgLen(4 * nf))
			p := c[unix.CmsgLen(0):]
			for x := 0; x < nf; x++ {
				binary.NativeEndian.PutUint32(p[4*x:], uint32(m.nums[ni+x]))
			}
			ni += nf
			h.Hdr.Control = &c[0]
			h.Hdr.SetControllen(l)
			used += l
		}
	}
	return dummy, nil
}

// ManyOptions sizes a recvfds_many: at most Count messages, each with
// room for MaxFds descriptors (NoFds: none) and MaxData bytes.
type ManyOptions struct {
	Count int
	RecvOptions
}

// Received is one message of a receive of many. Data aliases the
// receiver's buffer and is valid until its next Try. Err, when set, is the
// error a single TryRecvFds would have returned for this message (its
// descriptors did not all fit: MSG_CTRUNC, EMFILE); its descriptors are
// then closed and its data is in the error's facts.
type Received struct {
	Message
	Err error
}

// ManyRecv is the buffers of recvfds_many, reused from call to call, and
// the messages of its last Try.
type ManyRecv struct {
	Op   string // the error's op ("recvfds_many")
	Msgs []Received
	// All is every descriptor of Msgs, in order (the messages' Fds are
	// slices of it), fresh for each Try; a message whose descriptors did
	// not fit leaves closed handles here.
	All []*fdio.FD
	// EOF is set when the peer closed (or shut down writing) after Msgs.
	EOF bool

	hs     []unix.Mmsghdr
	iovs   []unix.Iovec
	data   []byte
	oob    []byte
	oobLen int
}

var manyRecvPool = sync.Pool{New: func() any { return &ManyRecv{} }}

// GetManyRecv returns a pooled receiver; PutManyRecv gives it back once
// its messages were taken (their descriptors handed on or closed).
func GetManyRecv(op string) *ManyRecv {
	r := manyRecvPool.Get().(*ManyRecv)
	r.Op = op
	return r
}

// PutManyRecv keeps buffers of ordinary size only.
func PutManyRecv(r *ManyRecv) {
	clear(r.Msgs)
	r.Msgs, r.All = r.Msgs[:0], nil
	if cap(r.data) > 1<<20 || cap(r.oob) > 1<<20 {
		r.data, r.oob, r.hs, r.iovs = nil, nil, nil, nil
	}
	manyRecvPool.Put(r)
}

// Try receives up to o.Count queued messages in one recvmmsg, each with
// its descriptors close-on-exec (MSG_CMSG_CLOEXEC), or returns EAGAIN when
// none is queued. Every message received is in Msgs: a message whose
// descriptors did not fit carries its error (Received.Err) instead of
// failing the others, which were consumed from the socket with it.
func (r *ManyRecv) Try(s *fdio.FD, o ManyOptions) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	if o.MaxFds <= 0 && !o.NoFds {
		o.MaxFds = MaxFdsPerMessage
	}
	if o.MaxData <= 0 {
		o.MaxData = 4096
	}
	if o.Count <= 0 {
		o.Count = ManyWindow
	}
	o.Count = min(o.Count, sys.MaxMmsgBatch)
	typ, err := typeFor("recvfds_many", s)
	if err != nil {
		return err
	}
	r.Msgs, r.EOF = r.Msgs[:0], false
	r.setup(o)
	got, err := sys.RecvmmsgDontwait(n, r.hs, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		if fdio.IsAgain(err) {
			return fdio.ErrAgain
		}
		return sys.Wrap(r.Op, sys.FdAddr(n), unwrapErrno(err))
	}
	// One slice for every descriptor of the call, carved per message.
	total := 0
	for i := 0; i < got; i++ {
		total += countRights(r.oobOf(i))
	}
	var all []*fdio.FD
	slab := fdio.Slab{}
	if total > 0 {
		all = make([]*fdio.FD, 0, total)
		slab = fdio.NewSlab(total)
	}
	for i := 0; i < got; i++ {
		h := &r.hs[i]
		ln, flags := int(h.Len), int(h.Hdr.Flags)
		m := Received{}
		m.Data = r.data[i*o.MaxData : i*o.MaxData+ln]
		m.Truncated = flags&unix.MSG_TRUNC != 0
		start := len(all)
		all = parseInPlace(r.oobOf(i), &m.Message, all, &slab)
		if len(all) > start {
			m.Fds = all[start:len(all):len(all)]
		}
		if flags&unix.MSG_CTRUNC != 0 || len(m.Fds) > o.MaxFds {
			// The data is kept in the error: copy it out of the buffer.
			m.Data = append([]byte(nil), m.Data...)
			m.Err = truncatedOp(r.Op, n, &m.Message, o.RecvOptions)
			m.Data = nil
		}
		r.Msgs = append(r.Msgs, m)
	}
	r.All = all
	r.trimEOF(n, typ)
	return nil
}

// trimEOF turns the trailing run of empty messages into end of stream: at
// end of stream the kernel fills every remaining header with a 0-byte
// read. On a stream socket a 0-byte read is only ever that; on seqpacket
// the peer's shutdown state decides, as in TryRecvFds (a zero-length
// message and end of stream read alike).
func (r *ManyRecv) trimEOF(sock, typ int) {
	if typ != unix.SOCK_STREAM && typ != unix.SOCK_SEQPACKET {
		return
	}
	k := len(r.Msgs)
	for k > 0 && r.Msgs[k-1].empty() {
		k--
	}
	if k == len(r.Msgs) {
		return
	}
	if typ == unix.SOCK_SEQPACKET {
		rev, err := fdio.Ready(sock, unix.POLLRDHUP)
		if err != nil || rev&(unix.POLLRDHUP|unix.POLLHUP) == 0 {
			return
		}
	}
	r.Msgs, r.EOF = r.Msgs[:k], true
}

func (m *Received) empty() bool {
	return len(m.Data) == 0 && len(m.Fds) == 0 && m.Creds == nil && m.Pidfd == nil && m.Err == nil
}

// setup points the first o.Count headers at their data and control room.
func (r *ManyRecv) setup(o ManyOptions) {
	k := o.Count
	if cap(r.hs) < k {
		r.hs = make([]unix.Mmsghdr, k)
		r.iovs = make([]unix.Iovec, k)
	}
	r.hs, r.iovs = r.hs[:k], r.iovs[:k]
	oobLen := 0
	if o.MaxFds > 0 {
		oobLen = unix.CmsgSpace(4 * o.MaxFds)
	}
	// Room for SCM_CREDENTIALS and SCM_PIDFD, as in TryRecvFds.
	oobLen += unix.CmsgSpace(unix.SizeofUcred) + unix.CmsgSpace(4)
	r.oobLen = oobLen
	if need := k * o.MaxData; cap(r.data) < need {
		r.data = make([]byte, need)
	}
	if need := k * oobLen; cap(r.oob) < need {
		r.oob = make([]byte, need)
	}
	r.data, r.oob = r.data[:k*o.MaxData], r.oob[:k*oobLen]
	for i := range r.hs {
		h := &r.hs[i]
		*h = unix.Mmsghdr{}
		r.iovs[i] = unix.Iovec{Base: &r.data[i*o.MaxData]}
		r.iovs[i].SetLen(o.MaxData)
		h.Hdr.Iov = &r.iovs[i]
		h.Hdr.Iovlen = 1
		h.Hdr.Control = &r.oob[i*oobLen]
		h.Hdr.SetControllen(oobLen)
	}
}

// oobOf is the control data the kernel wrote for message i.
func (r *ManyRecv) oobOf(i int) []byte {
	l := int(r.hs[i].Hdr.Controllen)
	return r.oob[i*r.oobLen : i*r.oobLen+min(l, r.oobLen)]
}

// Close closes every descriptor of the last Try's messages (a caller that
// fails before handing them on).
func (r *ManyRecv) Close() {
	for i := range r.Msgs {
		r.Msgs[i].closeAll()
	}
}

// eachCmsg calls fn for each well-formed control message of oob, read in
// place (unix.ParseSocketControlMessage allocates a slice per message).
func eachCmsg(oob []byte, fn func(level, typ int32, data []byte)) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return
		}
		fn(h.Level, h.Type, oob[unix.CmsgLen(0):l])
		sp := unix.CmsgSpace(l - unix.CmsgLen(0))
		if sp >= len(oob) {
			return
		}
		oob = oob[sp:]
	}
}

func countRights(oob []byte) int {
	k := 0
	eachCmsg(oob, func(level, typ int32, data []byte) {
		if level == unix.SOL_SOCKET && typ == unix.SCM_RIGHTS {
			k += len(data) / 4
		}
	})
	return k
}

// parseInPlace is parseControl without allocation on the descriptor path:
// the descriptors' handles come from slab and are appended to all.
func parseInPlace(oob []byte, m *Message, all []*fdio.FD, slab *fdio.Slab) []*fdio.FD {
	eachCmsg(oob, func(level, typ int32, data []byte) {
		if level != unix.SOL_SOCKET {
			return
		}
		switch typ {
		case unix.SCM_RIGHTS:
			for i := 0; i+4 <= len(data); i += 4 {
				all = append(all, slab.Own(int(int32(binary.NativeEndian.Uint32(data[i:])))))
			}
		case unix.SCM_CREDENTIALS, unix.SCM_PIDFD:
			parseCredsOrPidfd(typ, data, m)
		}
	})
	return all
}
