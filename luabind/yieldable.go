package luabind

import (
	"runtime"
	"strings"
	"sync"
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

func canYield() yieldKind {
	var pcs [96]uintptr
	n := runtime.Callers(3, pcs[:])
	seenLoop, via := false, false
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

var frameKinds sync.Map // function entry pc -> frameKind

func vmFrame(pc uintptr) frameKind {
	f := runtime.FuncForPC(pc - 1)
	if f == nil {
		return frameOther
	}
	entry := f.Entry()
	if k, ok := frameKinds.Load(entry); ok {
		return k.(frameKind)
	}
	k := frameOther
	name := f.Name()
	if name == protectedGoName {
		k = frameProtected
	} else if strings.HasPrefix(name, "github.com/yuin/gopher-lua.") {
		switch strings.TrimPrefix(name, "github.com/yuin/gopher-lua.") {
		case "mainLoop", "mainLoopWithContext":
			k = frameLoop
		case "threadRun":
			k = frameThread
		}
	}
	frameKinds.Store(entry, k)
	return k
}
