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
