package fdio

import (
	"testing"

	"github.com/fdwire/fdwire/runtime/sys"
)

func dupNums(t *testing.T, n int) []int32 {
	t.Helper()
	nums := make([]int32, n)
	for i := range nums {
		d, err := sys.DupCloexec(0)
		if err != nil {
			t.Fatal(err)
		}
		nums[i] = int32(d)
	}
	return nums
}

// A Batch's numbers are owned from adoption: counted and closed by the
// registry with no handle made, listed (with handles made then), and each
// entry's handle is made once and stays the batch's.
func TestBatchOwnsNumbersUntilTouched(t *testing.T) {
	before := CountOpen()
	r := NewRegistry()
	b := r.AdoptBatch(dupNums(t, 5))
	if r.Len() != 5 || CountOpen() != before+5 {
		t.Fatalf("len %d, open %d (want 5, %d)", r.Len(), CountOpen(), before+5)
	}
	h := b.Handle(1)
	if h != b.Handle(1) || h.Closed() || r.Len() != 5 {
		t.Fatal("touching one entry must make one handle, once, and keep the count")
	}
	if v, ok := r.Value(h); !ok || v != nil {
		t.Fatal("the touched entry is recorded as a handle of its own")
	}
	h.Close()
	if !b.Closed(1) || r.Len() != 4 || b.Num(0) < 0 {
		t.Fatal("closing a touched handle closes only that entry")
	}
	if l := r.List(); len(l) != 4 || len(r.batchList()) != 0 {
		t.Fatalf("List makes every handle (the batch's entry then goes): %d listed, %d batches", len(l), len(r.batchList()))
	}
	r.CloseAll()
	if CountOpen() != before || r.Len() != 0 {
		t.Fatalf("open %d, want %d", CountOpen(), before)
	}
	// CloseAll closes an untouched batch in runs; Close is idempotent and
	// an entry closed before it had a handle reads closed.
	b2 := r.AdoptBatch(dupNums(t, 4))
	b2.Handle(3)
	if err := r.CloseAll(); err != nil || CountOpen() != before {
		t.Fatalf("closeall: %v, open %d", err, CountOpen())
	}
	if !b2.Handle(0).Closed() || !b2.Handle(3).Closed() || b2.Close() != nil {
		t.Fatal("entries of a closed batch are closed handles")
	}
	// handles closed one by one empty the batch: nothing stays recorded
	b3 := r.AdoptBatch(dupNums(t, 3))
	for _, f := range b3.Handles() {
		f.Close()
	}
	if len(r.batchList()) != 0 || r.Len() != 0 || CountOpen() != before {
		t.Fatal("a batch whose every entry has its handle leaves the registry")
	}
	if nums, bad, ok := b3.AppendNums(nil); ok || bad != 0 || len(nums) != 0 {
		t.Fatal("AppendNums of closed entries must fail at the first")
	}
	// an empty receive records nothing
	if r.AdoptBatch(nil); len(r.batchList()) != 0 {
		t.Fatal("empty batch recorded")
	}
}

// AdoptBatchInto copies the numbers (short ones into the batch itself):
// the caller's slice can be reused at once, and batches recorded and
// closed in any order leave the registry's list whole.
func TestAdoptBatchIntoCopiesAndLinks(t *testing.T) {
	before := CountOpen()
	r := NewRegistry()
	var bs []*Batch
	for _, n := range []int{1, 2, 3, 7} {
		nums := dupNums(t, n)
		b := &Batch{}
		r.AdoptBatchInto(b, nums)
		want := append([]int32(nil), nums...)
		for i := range nums {
			nums[i] = -5 // the caller reuses its slice
		}
		for i, w := range want {
			if b.Num(i) != int(w) {
				t.Fatalf("batch of %d: entry %d is %d, want %d", n, i, b.Num(i), w)
			}
		}
		bs = append(bs, b)
	}
	if r.Len() != 13 || len(r.batchList()) != 4 {
		t.Fatalf("len %d, %d batches", r.Len(), len(r.batchList()))
	}
	// middle, head, by handles, tail: each unlink keeps the rest listed
	bs[1].Close()
	bs[3].Close()
	bs[0].Handle(0).Close()
	if r.Len() != 3 || len(r.batchList()) != 1 || r.batchList()[0] != bs[2] {
		t.Fatalf("len %d, batches %v", r.Len(), r.batchList())
	}
	if err := r.CloseAll(); err != nil || CountOpen() != before || r.Len() != 0 || len(r.batchList()) != 0 {
		t.Fatalf("closeall: %v, open %d want %d", err, CountOpen(), before)
	}
	r.AdoptBatchInto(&Batch{}, nil)
	if len(r.batchList()) != 0 {
		t.Fatal("empty batch recorded")
	}
}
