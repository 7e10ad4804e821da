package ns

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// OnThread runs fn on a locked OS thread that has first entered joins, so
// that a child forked by fn is born in those namespaces (a pid namespace
// can only be entered this way: setns sets it for children). Afterwards
// the thread goes back to the namespaces it had and is released; if it
// cannot, it is left locked and Go discards it when the goroutine ends.
// (It must not simply be discarded: a child's PR_SET_PDEATHSIG fires
// when the thread that forked it exits.)
func OnThread(joins []JoinFd, fn func() error) error {
	if len(joins) == 0 {
		return fn()
	}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := onThread(joins, fn)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// OnThisThread is OnThread for a caller already locked to a thread it
// keeps (runtime/proc's spawner, whose children's death signal is bound
// to it): joins are entered and left on this thread. restored false means
// the thread could not go back; the caller must run nothing else on it
// and must not let it end while children it forked live.
func OnThisThread(joins []JoinFd, fn func() error) (restored bool, err error) {
	if len(joins) == 0 {
		return true, fn()
	}
	return onThread(joins, fn)
}

func onThread(joins []JoinFd, fn func() error) (restored bool, err error) {
	var saved []JoinFd
	restore := func() bool {
		ok := true
		for i := len(saved) - 1; i >= 0; i-- {
			n := saved[i].FD.Raw()
			if sys.Setns(n, saved[i].Flags, "restore "+names(saved[i].Flags)) != nil {
				ok = false
			}
			saved[i].FD.Close()
		}
		return ok
	}
	for _, j := range joins {
		for _, k := range kinds {
			if j.Flags&k.flag == 0 {
				continue
			}
			// For a pid namespace, "pid_for_children" is what setns
			// changes; our own active one is always a valid way back.
			name := k.proc
			if k.flag == unix.CLONE_NEWPID {
				name = "pid"
			}
			if k.flag == unix.CLONE_NEWTIME {
				name = "time"
			}
			f, err := openOwn(name)
			if err != nil {
				return restore(), err
			}
			saved = append(saved, JoinFd{f, k.flag})
		}
		n, err := j.FD.Num()
		if err != nil {
			return restore(), sys.Errorf("spawn", "join."+names(j.Flags), unix.EBADF, "the join handle was closed")
		}
		if err := sys.Setns(n, j.Flags, "join."+names(j.Flags)); err != nil {
			return restore(), sys.WithHint(err, joinHint(err, j.Flags))
		}
	}
	err = fn()
	return restore(), err
}
