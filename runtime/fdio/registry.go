package fdio

import "sync"

// Registry is the set of handles one owner (a luabind Runtime, a Go
// program) holds: what fd.list() shows and what closing the owner closes.
// There is one per owner, never one per process, so two runtimes in one
// process never see or close each other's descriptors.
//
// It is a table indexed by descriptor number. Descriptor numbers are
// small, dense and unique within the process while open, so a slot per
// number makes Adopt and the removal done by Close an index operation
// under the registry's own (uncontended) mutex: no hashing, no
// allocation once the table has grown to the highest number in use, and
// List comes out sorted for free. AdoptAll takes the mutex once for a
// whole batch (the descriptors of one recvmsg). A handle is removed
// before its number is closed, so a number reused at once by another
// thread's open never meets a stale slot.
type Registry struct {
	mu  sync.Mutex
	tab []slot
	n   int
	// batches own raw numbers with no handle made yet (numbatch.go): a
	// list linked through the batches themselves, nbatches long.
	batches  *Batch
	nbatches int
}

type slot struct {
	f *FD
	v any
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Adopt records f (an owned, open handle) with a value for the owner's
// use (luabind keeps the Lua userdata there). A borrowed or closed handle
// is not recorded: the registry lists what its owner must close.
func (r *Registry) Adopt(f *FD, v any) {
	r.mu.Lock()
	r.adoptLocked(f, v)
	r.mu.Unlock()
}

// AdoptAll is Adopt for a batch; vs is nil or as long as fs.
func (r *Registry) AdoptAll(fs []*FD, vs []any) {
	r.mu.Lock()
	for i, f := range fs {
		var v any
		if vs != nil {
			v = vs[i]
		}
		r.adoptLocked(f, v)
	}
	r.mu.Unlock()
}

func (r *Registry) adoptLocked(f *FD, v any) {
	f.mu.Lock()
	n := f.num
	if n < 0 || f.borrowed || (f.reg != nil && f.reg != r) {
		f.mu.Unlock()
		return
	}
	f.reg = r
	f.mu.Unlock()
	if n >= len(r.tab) {
		r.tab = append(r.tab, make([]slot, n+1-len(r.tab)+len(r.tab)/2)...)
	}
	// A slot still holding another handle means that handle's number was
	// closed behind its back (a raw close): the new owner of the number wins.
	if old := r.tab[n].f; old == nil {
		r.n++
	} else if old != f {
		old.mu.Lock()
		old.reg = nil
		old.mu.Unlock()
	}
	r.tab[n] = slot{f, v}
}

// remove forgets f, which held number n.
func (r *Registry) remove(f *FD, n int) {
	r.mu.Lock()
	if n >= 0 && n < len(r.tab) && r.tab[n].f == f {
		r.tab[n] = slot{}
		r.n--
	}
	r.mu.Unlock()
}

// Len counts the handles recorded.
func (r *Registry) Len() int {
	r.mu.Lock()
	n := r.n
	bs := make([]*Batch, 0, r.nbatches)
	for b := r.batches; b != nil; b = b.next {
		bs = append(bs, b)
	}
	r.mu.Unlock()
	for _, b := range bs {
		b.mu.Lock()
		n += b.open
		b.mu.Unlock()
	}
	return n
}

// Value returns what Adopt recorded with f, and whether f is recorded.
func (r *Registry) Value(f *FD) (any, bool) {
	n := f.Raw()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < 0 || n >= len(r.tab) || r.tab[n].f != f {
		return nil, false
	}
	return r.tab[n].v, true
}

// Entry is one recorded handle and its value.
type Entry struct {
	FD    *FD
	Value any
}

// List returns the recorded handles by descriptor number. A batch's
// numbers get their handles now, so the list is whole.
func (r *Registry) List() []Entry {
	for _, b := range r.batchList() {
		b.Handles()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, r.n)
	for _, s := range r.tab {
		if s.f != nil {
			out = append(out, Entry{s.f, s.v})
		}
	}
	return out
}

// CloseAll closes every recorded handle and returns the first error.
func (r *Registry) CloseAll() error {
	var first error
	// Batches first, by runs of numbers, without a handle each.
	for _, b := range r.batchList() {
		if err := b.Close(); err != nil && first == nil {
			first = err
		}
	}
	for _, e := range r.List() {
		if err := e.FD.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// SetValue replaces the value recorded with f (when f is recorded).
func (r *Registry) SetValue(f *FD, v any) {
	n := f.Raw()
	r.mu.Lock()
	if n >= 0 && n < len(r.tab) && r.tab[n].f == f {
		r.tab[n].v = v
	}
	r.mu.Unlock()
}

// OwnMany takes ownership of raw close-on-exec numbers (the descriptors
// of one recvmsg) and records them all under one lock.
func (r *Registry) OwnMany(nums []int) []*FD {
	fs := make([]*FD, len(nums))
	for i, n := range nums {
		fs[i] = &FD{num: n}
	}
	r.AdoptAll(fs, nil)
	return fs
}

// CloseMany closes a batch of handles and returns the first error.
func (r *Registry) CloseMany(fs []*FD) error {
	var first error
	for _, f := range fs {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
