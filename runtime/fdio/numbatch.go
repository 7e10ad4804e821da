package fdio

import (
	"slices"
	"sync"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Batch owns the descriptors of one receive as raw numbers, recorded in
// its Registry as one entry: no FD is made for a descriptor until someone
// asks for its handle (Handle), so a receiver that only closes or passes
// on 253 descriptors pays nothing per descriptor beyond the kernel's work.
// Every guarantee of a handle holds for the numbers it still owns: the
// Registry counts them (Len), lists them (List makes their handles then),
// and closes them (CloseAll); Close closes them in runs with close_range.
//
// Entry i is in one of three states: owned here as a number (nums[i] >= 0,
// fds[i] nil), handed to its handle (fds[i] set; the FD owns it from then
// on, in the same Registry), or closed (both unset).
type Batch struct {
	mu   sync.Mutex
	nums []int32
	fds  []*FD // nil until the first handle is made
	reg  *Registry
	open int // entries still owned here as numbers
	// prev and next link the batch into reg's list (guarded by reg.mu):
	// recording and forgetting one per message is a few pointer writes,
	// where a map insert and delete hashed.
	prev, next *Batch
	// small holds the numbers of a batch this short (the usual one or two
	// of a control message) with no slice of their own.
	small [2]int32
}

// AdoptBatch takes ownership of nums (close-on-exec descriptor numbers;
// the slice is kept) and records them as one entry.
func (r *Registry) AdoptBatch(nums []int32) *Batch {
	b := &Batch{}
	r.adoptBatch(b, nums)
	return b
}

// AdoptBatchInto is AdoptBatch into b, a zero Batch the caller allocated
// (as part of a value of its own, so one receive makes one object), with
// nums copied: the caller may reuse its slice at once.
func (r *Registry) AdoptBatchInto(b *Batch, nums []int32) {
	if len(nums) <= len(b.small) {
		r.adoptBatch(b, append(b.small[:0], nums...))
		return
	}
	r.adoptBatch(b, append([]int32(nil), nums...))
}

func (r *Registry) adoptBatch(b *Batch, nums []int32) {
	b.nums, b.open = nums, len(nums)
	if len(nums) == 0 {
		return
	}
	b.reg = r
	r.mu.Lock()
	b.next = r.batches
	if b.next != nil {
		b.next.prev = b
	}
	r.batches = b
	r.nbatches++
	r.mu.Unlock()
}

// unlinkBatch forgets b, which was recorded in r; each batch is unlinked
// once, by whoever took its reg (under b.mu) and found it set.
func (r *Registry) unlinkBatch(b *Batch) {
	r.mu.Lock()
	if b.prev != nil {
		b.prev.next = b.next
	} else if r.batches == b {
		r.batches = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	}
	b.prev, b.next = nil, nil
	r.nbatches--
	r.mu.Unlock()
}

// BatchOf groups handles that already exist (and stay as they are) as a
// Batch: the same operations, with every entry already a handle.
func BatchOf(fds []*FD) *Batch {
	nums := make([]int32, len(fds))
	for i := range nums {
		nums[i] = -1
	}
	return &Batch{nums: nums, fds: fds}
}

// Len is the number of entries, closed ones included.
func (b *Batch) Len() int { return len(b.nums) }

// Handle returns entry i's handle, making it (adopted into the batch's
// Registry with no value) on first use; an entry closed before it had a
// handle gets a closed one. It is the same handle every time.
func (b *Batch) Handle(i int) *FD {
	b.mu.Lock()
	if b.fds != nil && b.fds[i] != nil {
		f := b.fds[i]
		b.mu.Unlock()
		return f
	}
	if b.fds == nil {
		b.fds = make([]*FD, len(b.nums))
	}
	n := b.nums[i]
	f := Own(int(n)) // -1: closed before it had a handle, and reads so
	b.fds[i] = f
	var reg *Registry
	last := false
	if n >= 0 {
		b.nums[i] = -1
		b.open--
		reg = b.reg
		if last = b.open == 0; last {
			b.reg = nil // every number has its handle: the entry goes
		}
	}
	b.mu.Unlock()
	if reg != nil {
		// Adopt before the batch's entry goes, so the number is never
		// unlisted in between.
		reg.Adopt(f, nil)
		if last {
			reg.unlinkBatch(b)
		}
	}
	return f
}

// Handles returns every open entry's handle, making those not made yet.
func (b *Batch) Handles() []*FD {
	out := make([]*FD, 0, len(b.nums))
	for i := range b.nums {
		if f := b.Handle(i); !f.Closed() {
			out = append(out, f)
		}
	}
	return out
}

// Made counts the entries that have a handle (for introspection and the
// tests that check a path makes none).
func (b *Batch) Made() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := 0
	for _, f := range b.fds {
		if f != nil {
			k++
		}
	}
	return k
}

// Num is entry i's descriptor number, -1 once closed.
func (b *Batch) Num(i int) int {
	b.mu.Lock()
	var f *FD
	if b.fds != nil {
		f = b.fds[i]
	}
	n := int(b.nums[i])
	b.mu.Unlock()
	if f != nil {
		return f.Raw()
	}
	return n
}

// Closed reports whether entry i is closed.
func (b *Batch) Closed(i int) bool { return b.Num(i) < 0 }

// AppendNums appends every entry's number to dst, or returns the position
// of the first closed entry (ok false).
func (b *Batch) AppendNums(dst []int) (out []int, closed int, ok bool) {
	for i := range b.nums {
		n := b.Num(i)
		if n < 0 {
			return dst, i, false
		}
		dst = append(dst, n)
	}
	return dst, -1, true
}

// Close closes every entry: the numbers still owned here in runs of
// consecutive numbers, one close_range(2) each (which, like CloseBatch,
// does not report an individual close's error), and the handles made, as
// CloseBatch closes them. Closing again does nothing.
func (b *Batch) Close() error {
	b.mu.Lock()
	var small [8]int // the numbers of a usual batch, without an allocation
	var nums []int
	if b.open > 0 {
		nums = small[:0]
		if b.open > len(small) {
			nums = make([]int, 0, b.open)
		}
		for i, n := range b.nums {
			if n >= 0 {
				nums = append(nums, int(n))
				b.nums[i] = -1
			}
		}
		b.open = 0
	}
	fds := b.fds
	reg := b.reg
	b.reg = nil
	b.mu.Unlock()
	if reg != nil {
		reg.unlinkBatch(b)
	}
	first := closeRuns(nums)
	if fds != nil {
		live := make([]*FD, 0, len(fds))
		for _, f := range fds {
			if f != nil {
				live = append(live, f)
			}
		}
		if err := CloseBatch(live); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// closeRuns closes nums (owned, not recorded anywhere), each run of
// consecutive numbers with one close_range(2).
func closeRuns(nums []int) error {
	if !slices.IsSorted(nums) {
		slices.Sort(nums)
	}
	var first error
	for i := 0; i < len(nums); {
		j := i + 1
		for j < len(nums) && nums[j] == nums[j-1]+1 {
			j++
		}
		var err error
		if j-i == 1 {
			err = sys.Close(nums[i])
		} else {
			err = sys.CloseRange(nums[i], nums[j-1])
		}
		if err != nil && first == nil {
			first = err
		}
		i = j
	}
	return first
}

// batchList is the registry's batches, taken under its lock.
func (r *Registry) batchList() []*Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Batch, 0, r.nbatches)
	for b := r.batches; b != nil; b = b.next {
		out = append(out, b)
	}
	return out
}
