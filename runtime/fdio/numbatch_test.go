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
