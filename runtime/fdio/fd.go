// Package fdio holds owned file-descriptor handles: each descriptor the
// runtime creates is close-on-exec from birth and belongs to exactly one
// FD. An FD that reaches a program's owner (a luabind Runtime) is adopted
// into that owner's Registry, which lists and finally closes it; one a
// runtime object keeps for itself (a child's pidfd) is closed by that
// object. Nothing here is process-wide.
package fdio

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// FD is a handle on one descriptor. An owned FD closes its descriptor
// exactly once; a borrowed FD (stdio, fd.from) never closes it.
type FD struct {
	mu  sync.Mutex
	num int
	// stype caches SO_DOMAIN<<16 | SO_TYPE for sockets (0 until asked),
	// which never changes: written once, read without the mutex (a send
	// reads it three times per message).
	stype atomic.Int32
	// class caches the file type bits (S_IFMT) once asked; classKnown
	// says it was, because 0 is a real value (anonymous inodes: eventfd,
	// epoll, signalfd, timerfd).
	class      uint32
	classKnown bool
	borrowed   bool
	// nonblockSet records that this runtime itself put O_NONBLOCK on the
	// description (SetNonblock(true)), so an accept can be tried without
	// a poll first. Only our own setting counts: a flag seen on a
	// description someone else shares could be cleared by them.
	nonblockSet bool
	// reg is the registry that lists this handle, if any.
	reg *Registry
	// ext holds what few handles need, made on first use, so the handle
	// itself stays small (48 bytes): a 253-descriptor receive makes 253.
	ext *fdExt
}

type fdExt struct {
	// attached is what other runtime packages know about the handle (the
	// bind_anon record of an address handle), kept with it so that it
	// lives and dies with the handle instead of in a process-wide table.
	attached any
	// Tags describe what the runtime knows that the kernel cannot tell
	// (for example "anon" for a bind_anon listener); info() reports them.
	tags []string
	// onClose runs once, after the descriptor is closed (for example to
	// remove a publishable socket's private directory).
	onClose []func()
}

// extLocked returns f.ext, making it; f.mu is held.
func (f *FD) extLocked() *fdExt {
	if f.ext == nil {
		f.ext = &fdExt{}
	}
	return f.ext
}

// takeHooksLocked removes and returns the close hooks; f.mu is held.
func (f *FD) takeHooksLocked() []func() {
	if f.ext == nil {
		return nil
	}
	h := f.ext.onClose
	f.ext.onClose = nil
	return h
}

// Own takes ownership of n, which must already be close-on-exec. The
// handle is in no registry until its owner adopts it.
func Own(n int) *FD { return &FD{num: n} }

// OwnMany is Own for each of nums (one received message's descriptors):
// the handles are carved from one allocation, not one each, so a 253-
// descriptor receive makes two objects for the collector instead of 254.
func OwnMany(nums []int32) []*FD {
	return AppendOwned(make([]*FD, 0, len(nums)), nums)
}

// AppendOwned is OwnMany appending to dst (a caller's reused list).
func AppendOwned(dst []*FD, nums []int32) []*FD {
	slab := NewSlab(len(nums))
	for _, n := range nums {
		dst = append(dst, slab.Own(int(n)))
	}
	return dst
}

// Slab makes up to n owned handles from one allocation (the descriptors
// of one receive). A handle kept long keeps its whole slab (48 bytes a
// descriptor) allocated: the price of not allocating each one.
type Slab struct{ fds []FD }

// NewSlab allocates room for n handles.
func NewSlab(n int) Slab { return Slab{make([]FD, 0, n)} }

// Own is the package's Own, from the slab while it has room.
func (s *Slab) Own(n int) *FD {
	i := len(s.fds)
	if i == cap(s.fds) {
		return Own(n)
	}
	// The slab is zeroed: set the number in place (copying in a whole
	// FD value costs a write barrier per pointer field).
	s.fds = s.fds[:i+1]
	f := &s.fds[i]
	f.num = n
	return f
}

// Borrow wraps n without taking ownership: Close forgets the number but
// leaves the descriptor open.
func Borrow(n int) *FD {
	return &FD{num: n, borrowed: true}
}

// Num returns the descriptor number, or EBADF once the handle is closed.
// (No defer in Num and Raw: they run per descriptor on the send path.)
func (f *FD) Num() (int, error) {
	f.mu.Lock()
	n := f.num
	f.mu.Unlock()
	if n < 0 {
		return -1, &sys.Error{Op: "use", Addr: "closed handle", Err: unix.EBADF, Hint: "the handle was closed"}
	}
	return n, nil
}

// Raw returns the number or -1, for display.
func (f *FD) Raw() int {
	f.mu.Lock()
	n := f.num
	f.mu.Unlock()
	return n
}

// Borrowed reports whether the runtime does not own the descriptor.
func (f *FD) Borrowed() bool { return f.borrowed }

// Closed reports whether Close has been called.
func (f *FD) Closed() bool { return f.Raw() < 0 }

// Close closes an owned descriptor once; later calls do nothing.
func (f *FD) Close() error {
	f.mu.Lock()
	n := f.num
	f.num = -1
	hooks := f.takeHooksLocked()
	reg := f.reg
	f.reg = nil
	f.mu.Unlock()
	if n < 0 {
		return nil
	}
	var err error
	if !f.borrowed {
		if reg != nil {
			reg.remove(f, n)
		}
		err = sys.Close(n)
	}
	for _, h := range hooks {
		h()
	}
	return err
}

// Release gives the descriptor up without closing it (after exec has
// placed it elsewhere, or when ownership moves to other code).
func (f *FD) Release() int {
	f.mu.Lock()
	n := f.num
	f.num = -1
	reg := f.reg
	f.reg = nil
	f.mu.Unlock()
	if reg != nil {
		reg.remove(f, n)
	}
	return n
}

// Attach keeps v with the handle for other runtime packages; Attached
// returns it (nil when nothing was attached).
func (f *FD) Attach(v any) {
	f.mu.Lock()
	f.extLocked().attached = v
	f.mu.Unlock()
}

// Attached returns what Attach kept.
func (f *FD) Attached() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ext == nil {
		return nil
	}
	return f.ext.attached
}

// Tag records a fact for info(); Tags returns them.
func (f *FD) Tag(t string) {
	f.mu.Lock()
	e := f.extLocked()
	e.tags = append(e.tags, t)
	f.mu.Unlock()
}

// Tags returns the facts recorded with Tag.
func (f *FD) Tags() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ext == nil {
		return nil
	}
	return append([]string(nil), f.ext.tags...)
}

// HasTag reports whether t was recorded.
func (f *FD) HasTag(t string) bool {
	for _, x := range f.Tags() {
		if x == t {
			return true
		}
	}
	return false
}

// OnClose registers h to run after the descriptor is closed.
func (f *FD) OnClose(h func()) {
	f.mu.Lock()
	e := f.extLocked()
	e.onClose = append(e.onClose, h)
	f.mu.Unlock()
}

// MarkInheritedCloexec marks every descriptor from 3 up close-on-exec, so
// that nothing fdwire itself inherited leaks into the children it starts.
func MarkInheritedCloexec() error { return sys.CloseRangeCloexec(3) }

// Pipe returns the read and write ends of a new pipe.
func Pipe() (r, w *FD, err error) {
	a, b, err := sys.Pipe2(0)
	if err != nil {
		return nil, nil, err
	}
	return Own(a), Own(b), nil
}

// OpenFile opens path (relative paths from the working directory).
func OpenFile(path string, flags int, mode uint32) (*FD, error) {
	n, err := sys.Openat(unix.AT_FDCWD, path, flags, mode)
	if err != nil {
		return nil, err
	}
	return Own(n), nil
}

// Dup returns an owned close-on-exec copy of f sharing its description.
func Dup(f *FD) (*FD, error) {
	n, err := f.Num()
	if err != nil {
		return nil, err
	}
	d, err := sys.DupCloexec(n)
	if err != nil {
		return nil, err
	}
	return Own(d), nil
}

// Memfd makes an anonymous memory file.
func Memfd(name string) (*FD, error) {
	n, err := sys.MemfdCreate(name, unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	return Own(n), nil
}

// Eventfd makes an eventfd counter.
func Eventfd(initval uint) (*FD, error) {
	n, err := sys.Eventfd(initval, 0)
	if err != nil {
		return nil, err
	}
	return Own(n), nil
}

// SetCloexec sets or clears FD_CLOEXEC on this descriptor only.
func (f *FD) SetCloexec(on bool) error {
	n, err := f.Num()
	if err != nil {
		return err
	}
	fl, err := sys.GetFdFlags(n)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.FD_CLOEXEC
	} else {
		fl &^= unix.FD_CLOEXEC
	}
	return sys.SetFdFlags(n, fl)
}

// SetNonblock sets or clears O_NONBLOCK. This changes the open file
// description, so every process sharing it sees the change: callers ask
// for it explicitly; the runtime never does it behind their back.
func (f *FD) SetNonblock(on bool) error {
	n, err := f.Num()
	if err != nil {
		return err
	}
	fl, err := sys.GetFl(n)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_NONBLOCK
	} else {
		fl &^= unix.O_NONBLOCK
	}
	if err := sys.SetFl(n, fl); err != nil {
		return err
	}
	f.mu.Lock()
	f.nonblockSet = on
	f.mu.Unlock()
	return nil
}

// NumNonblock is Num that also reports whether this runtime made the
// description non-blocking itself (SetNonblock(true), not undone since).
func (f *FD) NumNonblock() (int, bool, error) {
	f.mu.Lock()
	n, nb := f.num, f.nonblockSet
	f.mu.Unlock()
	if n < 0 {
		return -1, false, &sys.Error{Op: "use", Addr: "closed handle", Err: unix.EBADF, Hint: "the handle was closed"}
	}
	return n, nb, nil
}

// CachedSockType returns the cached socket type, computing it once with get.
func (f *FD) CachedSockType(get func() (int, error)) (int, error) {
	if t := int(f.stype.Load()); t != 0 {
		return t, nil
	}
	t, err := get()
	if err != nil {
		return 0, err
	}
	f.stype.Store(int32(t))
	return t, nil
}
