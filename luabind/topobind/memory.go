package topobind

import (
	"math"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// The Go soft memory limit follows the processes of the running
// topologies. With only GOGC, the heap may grow to twice what is live
// before a collection, and a topology keeps about 20 KB live per process
// (its tasks, handles and tables): peak RSS doubled. A fixed limit
// thrashes once a large topology's live heap reaches it; this one is the
// heap in use when the first topology started, 8 MB, and perProcBudget
// per running process, so it scales with the size and the growth per
// process stays the same from 10 processes to 10,000 (with the old 16 MB
// the small topologies ran on GOGC alone, at twice their live heap). It is
// process-wide because the Go limit is; a GOMEMLIMIT the user set is left
// alone.
const perProcBudget = 24 << 10

var memBudget struct {
	sync.Mutex
	procs int
	base  int64
}

// userLimit: GOMEMLIMIT was set, so the limit is the user's.
var userLimit = os.Getenv("GOMEMLIMIT") != ""

// topoMemoryBudget(delta): delta processes start (positive) or are gone
// (negative).
func (rt host) topoMemoryBudget(L *lua.LState) int {
	delta := L.CheckInt(1)
	if userLimit {
		return 0
	}
	memBudget.Lock()
	defer memBudget.Unlock()
	if memBudget.procs == 0 && delta > 0 {
		memBudget.base = heapInUse() + 8<<20
	}
	memBudget.procs = max(memBudget.procs+delta, 0)
	if memBudget.procs == 0 {
		debug.SetMemoryLimit(math.MaxInt64)
		return 0
	}
	debug.SetMemoryLimit(memBudget.base + int64(memBudget.procs)*perProcBudget)
	return 0
}

// heapInUse is the heap's live and not yet swept objects. ReadMemStats
// stops the world for a moment, once per first topology; runtime/metrics
// would cost every fdwire start its package init (0.1 ms).
func heapInUse() int64 {
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
