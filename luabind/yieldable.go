package luabind

import (
	"runtime"
	"strings"
	"sync/atomic"
)

// gopher-lua can only suspend a coroutine whose Lua code runs in the
// coroutine's own interpreter loop. When the VM calls a Lua function from
// Go — a generic-for iterator, a metamethod, a table.sort comparator, a
// gsub callback, L.CallByParam — that function runs in a nested loop, and a
// yield from inside it corrupts the VM (the outer loop goes on with a
// half-popped stack and crashes). canYield tells the two apart from the Go
// stack: walking outward from the binding, the first interpreter loop must
// have been entered by threadRun (a coroutine start or resume), not by
// another interpreter loop. Where yielding is impossible the bindings wait
// in place instead, blocking the other tasks for that one call.
//
// The one nested loop that is allowed is protectedGo's (pcall of a
// blocking binding, protected.go): a binding called straight from it does
// not yield itself but hands the park to protectedGo, which yields from
// the task's own loop (yieldViaPcall).
type yieldKind uint8

const (
	yieldNo yieldKind = iota
	yieldDirect
	yieldViaPcall
)

// canYield's walk is on every wait that parks (Proc:wait, a read with no data
// yet), so it is kept short: it looks at 8 frames first (the decision is
// nearly always there) and each return address's kind is remembered in a
// small lock-free table, without FuncForPC.
func canYield() yieldKind {
	// The first look takes 8 frames: a binding called from the task's own
	// loop is decided at the fourth (binding, callGFunction, mainLoop,
	// threadRun), one in an iterator at the sixth. Unwinding is most of
	// the cost, frame by frame; anything deeper is looked at again whole.
	var pcs [96]uintptr
	seenLoop, via := false, false
	for _, depth := range [2]int{8, len(pcs)} {
		seenLoop, via = false, false
		n := runtime.Callers(3, pcs[:depth])
		for _, pc := range pcs[:n] {
			switch vmFrame(pc) {
			case frameLoop:
				if seenLoop {
					return yieldNo
				}
				seenLoop = true
			case frameProtected:
				if !seenLoop || via {
					return yieldNo
				}
				seenLoop, via = false, true
			case frameThread:
				if !seenLoop {
					return yieldNo
				}
				if via {
					return yieldViaPcall
				}
				return yieldDirect
			}
		}
		if n < depth {
			break
		}
	}
	// Ran out of frames (a very deep stack): assume the worst.
	if !seenLoop && !via {
		return yieldDirect
	}
	return yieldNo
}

type frameKind uint8

const (
	frameOther frameKind = iota
	frameLoop
	frameThread
	frameProtected
)

// frameKinds caches vmFrame by return address: each slot holds pc<<2 |
// kind (addresses fit in 62 bits); a slot another pc took is recomputed.
var frameKinds [512]atomic.Uint64

func vmFrame(pc uintptr) frameKind {
	slot := &frameKinds[(pc^pc>>9)%uintptr(len(frameKinds))]
	if v := slot.Load(); v != 0 && uintptr(v>>2) == pc {
		return frameKind(v & 3)
	}
	k := frameOther
	if f := runtime.FuncForPC(pc - 1); f != nil {
		name := f.Name()
		if name == protectedGoName {
			k = frameProtected
		} else if rest, ok := strings.CutPrefix(name, "github.com/yuin/gopher-lua."); ok {
			switch rest {
			case "mainLoop", "mainLoopWithContext":
				k = frameLoop
			case "threadRun":
				k = frameThread
			}
		}
	}
	slot.Store(uint64(pc)<<2 | uint64(k))
	return k
}
