package topobind

import (
	"errors"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/sys"
)

// The watcher lets one task follow every process of a topology, its
// output pipes and its exit, through one epoll instance that the task
// waits on (fd.ready). Three tasks per process (two readers and an exit
// waiter) each cost a gopher-lua thread (~2.5 KB live, ~8 KB of garbage
// made by NewThread) and a park.
//
// A process is watched through its Proc's own pidfd (no dup: a topology
// already holds three descriptors per process). Whoever reaps the child
// closes that pidfd (Proc:wait in user code, Proc:ready when the child
// ends first), which silently drops it from the epoll set; so the pidfd's
// close also rings the watcher's bell (an eventfd in the set under key 0)
// and the key is reported by collect as if it were ready, unless the
// process was unwatched first (the engine unwatches before it reaps).
type watchState struct {
	bell  *fdio.FD
	mu    sync.Mutex
	gone  []int32
	armed map[*proc.Proc]bool
}

// bellKey is the bell's key in the epoll set; watch keys are from 1.
const bellKey = 0

// watchedFd is the descriptor behind argument n: an Fd, or a Proc's pidfd.
func (rt host) watchedFd(L *lua.LState, fn string, n int) (int, *proc.Proc, error) {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if p, ok := ud.Value.(*proc.Proc); ok {
			if p.Pidfd == nil {
				return -1, nil, sys.Errorf(fn, "", unix.EBADF, "the process has no pidfd")
			}
			k, err := p.Pidfd.Num()
			return k, p, err
		}
	}
	k, err := rt.CheckOpenFd(L, fn, n, "f").Num()
	return k, nil, err
}

// watcherOf is the epoll instance of argument 1 and its state.
func (rt host) watcherOf(L *lua.LState, fn string) (int, *watchState) {
	f := rt.CheckOpenFd(L, fn, 1, "w")
	st, ok := f.Attached().(*watchState)
	if !ok {
		rt.ArgError(L, fn, 1, "w", "expected a watcher made by fdwire.topo.native.watcher")
	}
	n, err := f.Num()
	if err != nil {
		rt.Raise(L, err)
	}
	return n, st
}

// topoWatcher() -> w, bell: a new epoll instance and its bell, both
// close-on-exec handles owned like every other; close both.
func (rt host) topoWatcher(L *lua.LState) int {
	n, err := sys.EpollCreate()
	if err != nil {
		return rt.Raise(L, err)
	}
	ep := fdio.Own(n)
	b, err := sys.Eventfd(0, unix.EFD_NONBLOCK) // ours alone: its flag is ours to set
	if err == nil {
		err = sys.EpollCtl(n, unix.EPOLL_CTL_ADD, b, unix.EPOLLIN, bellKey)
		if err != nil {
			sys.Close(b)
		}
	}
	if err != nil {
		ep.Close()
		return rt.Raise(L, err)
	}
	bell := fdio.Own(b)
	ep.Attach(&watchState{bell: bell, armed: map[*proc.Proc]bool{}})
	L.Push(rt.NewFd(L, ep))
	L.Push(rt.NewFd(L, bell))
	return 2
}

// topoWatch(w, f_or_proc, key): key (an integer from 1) is reported by
// collect while f is readable, or once the process has exited.
func (rt host) topoWatch(L *lua.LState) int {
	const fn = "fdwire.topo.native.watch"
	w, st := rt.watcherOf(L, fn)
	n, p, err := rt.watchedFd(L, fn, 2)
	if err != nil {
		return rt.Raise(L, err)
	}
	key := int32(rt.Args(L, fn).Int(3, "key", luabind.Range{Min: 1, Max: 1<<31 - 1}))
	if err := sys.EpollCtl(w, unix.EPOLL_CTL_ADD, n, unix.EPOLLIN, key); err != nil {
		return rt.Raise(L, err)
	}
	if p != nil {
		st.mu.Lock()
		st.armed[p] = true
		st.mu.Unlock()
		p.Pidfd.OnClose(func() {
			st.mu.Lock()
			ring := st.armed[p]
			if ring {
				delete(st.armed, p)
				st.gone = append(st.gone, key)
			}
			st.mu.Unlock()
			if b, err := st.bell.Num(); ring && err == nil {
				one := [8]byte{1}
				sys.Write(b, one[:])
			}
		})
	}
	return 0
}

// topoUnwatch(w, f_or_proc): f is no longer watched (before it is
// closed: a copy in a child that is between fork and exec would keep the
// registration alive). One already gone is no error.
func (rt host) topoUnwatch(L *lua.LState) int {
	const fn = "fdwire.topo.native.unwatch"
	w, st := rt.watcherOf(L, fn)
	n, p, err := rt.watchedFd(L, fn, 2)
	if p != nil {
		st.mu.Lock()
		delete(st.armed, p)
		st.mu.Unlock()
	}
	if err != nil {
		return 0
	}
	if err := sys.EpollCtl(w, unix.EPOLL_CTL_DEL, n, 0, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return rt.Raise(L, err)
	}
	return 0
}

// topoCollect(w) -> {key, ...}: the keys of what is ready now, and of
// processes whose pidfd was closed since, without waiting (the caller
// waits for w itself with fd.ready, a blocking call the glue knows).
func (rt host) topoCollect(L *lua.LState) int {
	w, st := rt.watcherOf(L, "fdwire.topo.native.collect")
	// Up to 64 at a time: the rest stay ready for the next call.
	var evs [64]unix.EpollEvent
	k, err := sys.EpollWait(w, evs[:])
	if err != nil {
		return rt.Raise(L, err)
	}
	t := L.CreateTable(k, 0)
	for _, ev := range evs[:k] {
		if ev.Fd != bellKey {
			t.Append(lua.LNumber(ev.Fd))
			continue
		}
		if b, err := st.bell.Num(); err == nil {
			var buf [8]byte
			sys.Read(b, buf[:])
		}
		st.mu.Lock()
		gone := st.gone
		st.gone = nil
		st.mu.Unlock()
		for _, key := range gone {
			t.Append(lua.LNumber(key))
		}
	}
	L.Push(t)
	return 1
}
