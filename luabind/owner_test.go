package luabind

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/reap"
)

// TestTwoRuntimesCloseOnlyTheirOwn: two runtimes in one process, each
// with a child and descriptors; closing one ends its child and closes its
// descriptors, and leaves the other's running and open (issue 13: Close
// used to terminate every runtime's children).
func TestTwoRuntimesCloseOnlyTheirOwn(t *testing.T) {
	leakcheck.Check(t)
	type side struct {
		rt       *Runtime
		pid      int
		fds      []int
		inodes   []uint64
		listed   int
		stdout   bytes.Buffer
		finished bool
	}
	start := func(s *side) {
		rt, err := newTestRuntime(Options{Stdout: &s.stdout, Grace: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s.rt = rt
		res := rt.RunString(`
			local p = proc.spawn{"sleep", "60"}
			local r, w = fd.pipe()
			local m = fd.memfd("mine")
			print(p:pid(), r:num(), w:num(), m:num(), #fd.list())
		`, "=side")
		if res.Err != nil {
			t.Fatal(rt.ErrorReport(res.Err))
		}
		f := strings.Fields(s.stdout.String())
		s.pid, _ = strconv.Atoi(f[0])
		for _, x := range f[1:4] {
			n, _ := strconv.Atoi(x)
			s.fds = append(s.fds, n)
			var st unix.Stat_t
			if err := unix.Fstat(n, &st); err != nil {
				t.Fatal(err)
			}
			s.inodes = append(s.inodes, st.Ino)
		}
		s.listed, _ = strconv.Atoi(f[4])
	}
	var a, b side
	start(&a)
	start(&b)
	defer b.rt.Close()
	if a.listed != 3 || b.listed != 3 {
		t.Errorf("fd.list() shows %d and %d handles, want 3 each (a runtime lists only its own)", a.listed, b.listed)
	}
	alive := func(pid int) bool {
		st, ok := reap.ReadStat(pid)
		return ok && st.State != "Z"
	}
	a.rt.Close()
	if alive(a.pid) {
		t.Errorf("runtime a's child %d survived a's Close", a.pid)
	}
	for _, n := range a.fds {
		if _, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err == nil {
			t.Errorf("runtime a's fd %d is still open after a's Close", n)
		}
	}
	if !alive(b.pid) {
		t.Errorf("runtime b's child %d was ended by a's Close", b.pid)
	}
	for i, n := range b.fds {
		var st unix.Stat_t
		if err := unix.Fstat(n, &st); err != nil || st.Ino != b.inodes[i] {
			t.Errorf("runtime b's fd %d was closed by a's Close", n)
		}
	}
	res := b.rt.RunString(`assert(#fd.list() == 3, "b lists " .. #fd.list())`, "=b")
	if res.Err != nil {
		t.Error(b.rt.ErrorReport(res.Err))
	}
	b.rt.Close()
	if alive(b.pid) {
		t.Errorf("runtime b's child %d survived b's Close", b.pid)
	}
}

// TestCloseWakesParkedTaskWithEBADF: a task parked reading a handle that
// another task closes wakes at once with EBADF, even when the number is
// reused at once by a new, idle descriptor (issue 13: one review saw it
// time out instead, polling the new descriptor).
func TestCloseWakesParkedTaskWithEBADF(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		local n = r:num()
		local got
		local reader = task.spawn(function()
			local ok, e = pcall(r.read, r, 10, {timeout = 5})
			got = ok and ("read " .. tostring(e)) or e
		end)
		task.sleep(0)           -- the reader parks on r
		r:close()
		-- The new pipe takes the freed number (lowest free) and stays empty:
		-- a wait on the number would never end before its timeout.
		local r2, w2 = fd.pipe()
		assert(r2:num() == n, "the number was not reused; the test proves less")
		task.wait(reader)
		assert(type(got) == "table" and got.name == "EBADF", "parked reader got: " .. tostring(got))
		-- fd.ready (a wait without I/O) wakes the same way.
		local a, b = fd.pipe()
		local seen
		local t2 = task.spawn(function()
			local ok, e = pcall(fd.ready, a, "r", {timeout = 5})
			seen = ok and "ready" or e
		end)
		task.sleep(0)
		a:close()
		task.wait(t2)
		assert(type(seen) == "table" and seen.name == "EBADF", "fd.ready got: " .. tostring(seen))
		for _, h in ipairs{b, w, r2, w2} do h:close() end
	`)
}
