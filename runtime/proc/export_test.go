package proc

// SetFailAt makes the named step of o's spawns fail (tests only).
func SetFailAt(o *Owner, step string) { o.failAt = step }

// SpawnSteps are the steps of a spawn that can be made to fail, in order.
var SpawnSteps = []string{"mark-inherited", "rlimit", "notify", "notify-pipe", "stdio-null", "stdio-pipe",
	"trampoline-pipe", "fork", "pidfd", "trampoline-report"}

// Handoffs is how many requests o's spawner thread has served.
func Handoffs(o *Owner) int64 { return o.spawner.handoffs.Load() }

// SetAfterFork makes f run between each fork of o's and the child's
// registration (tests only).
func SetAfterFork(o *Owner, f func(pid int)) { o.afterFork = f }

// LookPath is the pre-fork program check a spawn of name would make.
func LookPath(op, name string) error { _, err := lookPath(op, name, nil); return err }
