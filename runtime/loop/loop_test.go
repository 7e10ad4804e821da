package loop

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
)

func TestTimersFireInDeadlineOrder(t *testing.T) {
	leakcheck.Check(t)
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []int
	now := time.Now()
	l.Timer(now.Add(20*time.Millisecond), func() { got = append(got, 2) })
	l.Timer(now.Add(5*time.Millisecond), func() { got = append(got, 1) })
	cancelled := l.Timer(now.Add(10*time.Millisecond), func() { got = append(got, 99) })
	cancelled.Cancel()
	for l.Pending() > 0 {
		if err := l.RunOnce(true); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestWatchFiresOnReadinessAndDeadline(t *testing.T) {
	leakcheck.Check(t)
	l, _ := New()
	defer l.Close()
	r, w, _ := fdio.Pipe()
	defer r.Close()
	defer w.Close()
	rn, _ := r.Num()
	var ready, timedOut bool
	l.WatchFD(rn, unix.POLLIN, time.Time{}, func(rev int16, to bool) { ready = rev&unix.POLLIN != 0 && !to })
	wn, _ := w.Num()
	unix.Write(wn, []byte("x"))
	l.RunOnce(true)
	if !ready {
		t.Fatal("watch did not fire on POLLIN")
	}
	var buf [1]byte
	unix.Read(rn, buf[:])
	l.WatchFD(rn, unix.POLLIN, time.Now().Add(10*time.Millisecond), func(rev int16, to bool) { timedOut = to })
	for l.Pending() > 0 {
		l.RunOnce(true)
	}
	if !timedOut {
		t.Fatal("watch did not time out")
	}
}

func TestPostWakesBlockedLoop(t *testing.T) {
	leakcheck.Check(t)
	l, _ := New()
	defer l.Close()
	ran := make(chan bool, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		l.Post(func() { ran <- true })
	}()
	// Nothing is pending, so this blocks until the post arrives.
	if err := l.RunOnce(true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	default:
		t.Fatal("posted callback did not run")
	}
}

// Many watches on one descriptor share one poll entry (the set stays
// within RLIMIT_NOFILE however many tasks wait on it), and each watch
// sees only the events it asked for.
func TestWatchesOnOneDescriptorShareAnEntry(t *testing.T) {
	leakcheck.Check(t)
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(a[0])
	defer unix.Close(a[1])
	b := a
	const readers = 500
	var readFired, writeFired int
	for i := 0; i < readers; i++ {
		l.WatchFD(b[0], unix.POLLIN, time.Time{}, func(rev int16, timedOut bool) {
			if rev&unix.POLLIN == 0 || timedOut {
				t.Errorf("reader woke with %#x timedOut=%v", rev, timedOut)
			}
			readFired++
		})
	}
	l.WatchFD(b[0], unix.POLLOUT, time.Time{}, func(rev int16, timedOut bool) {
		if rev != unix.POLLOUT {
			t.Errorf("writer woke with %#x, want POLLOUT only", rev)
		}
		writeFired++
	})
	// Writable, not readable: only the POLLOUT watch may fire.
	if err := l.RunOnce(false); err != nil {
		t.Fatal(err)
	}
	if len(l.pfds) != 2 {
		t.Errorf("poll set has %d entries for 501 watches on one descriptor, want 2 (with the wake-up)", len(l.pfds))
	}
	if writeFired != 1 || readFired != 0 {
		t.Fatalf("after one round: %d writer, %d readers fired", writeFired, readFired)
	}
	unix.Write(a[1], []byte("x"))
	if err := l.RunOnce(true); err != nil {
		t.Fatal(err)
	}
	if readFired != readers || l.Pending() != 0 {
		t.Fatalf("%d of %d readers fired, %d pending", readFired, readers, l.Pending())
	}
}

// Past the short scan the map indexes the set: 40 pipes with 3 watches
// each make 41 entries, and every watch fires on its own pipe.
func TestManyDescriptorsManyWatches(t *testing.T) {
	leakcheck.Check(t)
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const pipes, per = 40, 3
	fired := make([]int, pipes)
	var ws []*fdio.FD
	for i := 0; i < pipes; i++ {
		r, w, err := fdio.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		ws = append(ws, w)
		for j := 0; j < per; j++ {
			l.WatchHandle(r, unix.POLLIN, time.Time{}, func(int16, bool) { fired[i]++ })
		}
	}
	if err := l.RunOnce(false); err != nil {
		t.Fatal(err)
	}
	if len(l.pfds) != pipes+1 {
		t.Errorf("poll set has %d entries, want %d", len(l.pfds), pipes+1)
	}
	for i := 0; i < pipes; i += 2 {
		unix.Write(ws[i].Raw(), []byte("x"))
	}
	if err := l.RunOnce(true); err != nil {
		t.Fatal(err)
	}
	for i, n := range fired {
		if want := per * ((i + 1) % 2); n != want {
			t.Errorf("pipe %d: %d watches fired, want %d", i, n, want)
		}
	}
}
