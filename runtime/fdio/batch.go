package fdio

// CloseBatch closes every handle of fs, each once, as Close does (borrowed
// ones are only forgotten, closed ones skipped), with less work per
// descriptor: each registry is updated under one lock for the batch, and
// each run of consecutive descriptor numbers is closed with one
// close_range(2). Descriptors received in one message usually are such a
// run (the kernel hands out the lowest free numbers). close_range does not
// report an individual close's error (a file system's write-back EIO, which
// close(2) would return); close such a handle on its own to see it.
func CloseBatch(fs []*FD) error {
	if len(fs) == 1 {
		return fs[0].Close()
	}
	type gone struct {
		f   *FD
		n   int
		reg *Registry
	}
	var hooks []func()
	list := make([]gone, 0, len(fs))
	for _, f := range fs {
		f.mu.Lock()
		n := f.num
		f.num = -1
		if f.ext != nil {
			hooks = append(hooks, f.takeHooksLocked()...)
		}
		reg := f.reg
		f.reg = nil
		f.mu.Unlock()
		if n >= 0 && !f.borrowed {
			list = append(list, gone{f, n, reg})
		}
	}
	// Registry slots are cleared before the numbers are closed, so a
	// number reused at once meets no stale slot; one lock per run of
	// handles of the same registry (normally the whole batch).
	var locked *Registry
	for _, g := range list {
		if g.reg != locked {
			if locked != nil {
				locked.mu.Unlock()
			}
			locked = g.reg
			if locked != nil {
				locked.mu.Lock()
			}
		}
		if locked != nil && g.n < len(locked.tab) && locked.tab[g.n].f == g.f {
			locked.tab[g.n] = slot{}
			locked.n--
		}
	}
	if locked != nil {
		locked.mu.Unlock()
	}
	nums := make([]int, len(list))
	for i, g := range list {
		nums[i] = g.n
	}
	first := closeRuns(nums)
	for _, h := range hooks {
		h()
	}
	return first
}

// AppendNums appends the numbers of fs to dst, or returns the position of
// the first closed handle (ok false). One lock per handle and no defer: the
// send path of a 253-descriptor message calls it per message.
func AppendNums(dst []int, fs []*FD) (out []int, closed int, ok bool) {
	for i, f := range fs {
		f.mu.Lock()
		n := f.num
		f.mu.Unlock()
		if n < 0 {
			return dst, i, false
		}
		dst = append(dst, n)
	}
	return dst, -1, true
}
