package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// The implementations, in table order. Go is the plain Go program of
// bench/baseline/gobase: what the Go runtime and x/sys cost without Lua,
// the floor under fdwire's binding.
const (
	implC = iota
	implGo
	implPython
	implFdwire
	nImpl
)

var implNames = [nImpl]string{"C", "Go", "Python", "fdwire"}

// metric is one table row that a workload's runs feed.
type metric struct {
	name   string
	unit   string
	higher bool // higher is better (a rate) or lower is (a time)
	pick   func(o *outcome) float64
	target *target
	// sweepRSS is the topology size of a sweep's peak-RSS row (0: not one)
	sweepRSS int
}

// target is a goal for the fdwire column: a ratio against another
// column (fdwire/base, on the metric itself), or an absolute bound.
type target struct {
	vs    int     // implC, implGo, implPython, or -1 for an absolute bound
	ratio float64 // vs >= 0: fdwire/base must be >= ratio (higher) or <= (lower)
	bound float64 // vs < 0: fdwire must be <= bound (lower) or >= (higher)
}

func (t *target) String(m *metric) string {
	op := "≥"
	if !m.higher {
		op = "≤"
	}
	if t.vs >= 0 {
		return fmt.Sprintf("fdwire/%s %s %.2f", implNames[t.vs], op, t.ratio)
	}
	return fmt.Sprintf("%s %s %s", op, fmtNum(t.bound), m.unit)
}

type workload struct {
	id      string
	metrics []*metric
	// argv returns the command for one implementation, or a reason it
	// cannot run here.
	argv    func(e *env, impl int) ([]string, string)
	timeout time.Duration
	// custom measures one run itself instead of running argv.
	custom func(e *env, impl int) (*outcome, string, error)
}

func result(i int) func(o *outcome) float64 {
	return func(o *outcome) float64 {
		if i < len(o.vals) {
			return o.vals[i]
		}
		return 0
	}
}

func maxRSS(o *outcome) float64 { return o.maxRSS }

func size(e *env, quick, full int) string {
	if e.quick {
		return strconv.Itoa(quick)
	}
	return strconv.Itoa(full)
}

// cprog returns the built C baseline, or why there is none.
func cprog(e *env, name string) (string, string) {
	b, ok := e.cbin[name]
	if !ok {
		return "", "bench/baseline/" + name + ".c is missing"
	}
	if b == "" {
		return "", "no C compiler"
	}
	return b, ""
}

func pyprog(e *env, name string) (string, string) {
	if e.python == "" {
		return "", "no python3"
	}
	p := e.path("bench/baseline/" + name + ".py")
	if _, err := os.Stat(p); err != nil {
		return "", "bench/baseline/" + name + ".py is missing"
	}
	return p, ""
}

func luaprog(e *env, name string) (string, string) {
	p := e.path("bench/lua/" + name + ".lua")
	if _, err := os.Stat(p); err != nil {
		return "", "bench/lua/" + name + ".lua is missing"
	}
	return p, ""
}

// goprog returns the Go baseline binary, or why there is none.
func goprog(e *env) (string, string) {
	if e.gobase == "" {
		return "", "the Go baseline did not build"
	}
	return e.gobase, ""
}

// simple is a workload whose C, Python and fdwire programs take the same
// arguments; goArgs, when not nil, gives the Go baseline's (after the
// gobase binary), or nil for "no Go program for this row".
func simple(name string, args func(e *env) []string, goArgs func(e *env) []string) func(e *env, impl int) ([]string, string) {
	return func(e *env, impl int) ([]string, string) {
		var argv []string
		switch impl {
		case implC:
			b, why := cprog(e, name)
			if why != "" {
				return nil, why
			}
			argv = []string{b}
		case implGo:
			if goArgs == nil {
				return nil, ""
			}
			b, why := goprog(e)
			if why != "" {
				return nil, why
			}
			return append([]string{b}, goArgs(e)...), ""
		case implPython:
			p, why := pyprog(e, name)
			if why != "" {
				return nil, why
			}
			argv = []string{e.python, p}
		case implFdwire:
			p, why := luaprog(e, name)
			if why != "" {
				return nil, why
			}
			argv = []string{e.fdwire, p}
		}
		return append(argv, args(e)...), ""
	}
}

// only keeps one implementation of an argv function (the others have no
// program for the row).
func only(impl int, f func(e *env, impl int) ([]string, string)) func(e *env, impl int) ([]string, string) {
	return func(e *env, i int) ([]string, string) {
		if i != impl {
			return nil, ""
		}
		return f(e, i)
	}
}

// sizes the workloads run at: the full ones, or --quick's small ones.
type sizes struct {
	fdpass1, fdpass253, spawn, relay, procs, conns int
	topo                                           []int
}

func sizesFor(quick bool) sizes {
	if quick {
		return sizes{fdpass1: 2000, fdpass253: 40, spawn: 20, relay: 8 << 20, procs: 20, conns: 400, topo: []int{10, 100}}
	}
	return sizes{fdpass1: 100000, fdpass253: 5000, spawn: 1000, relay: 512 << 20, procs: 1000, conns: 20000,
		topo: []int{10, 100, 1000, 10000}}
}

// connConcurrency is how many client connections are in flight at once.
const connConcurrency = 4

func workloads(e *env) []*workload {
	z := sizesFor(e.quick)
	itoa := strconv.Itoa
	ws := []*workload{
		{
			id: "fdpass1",
			metrics: []*metric{{name: "fd passing, 1 fd/message (Go: try-first, as fdwire)", unit: "msg/s", higher: true, pick: result(0),
				target: &target{vs: implPython, ratio: 1.1}}},
			argv: simple("fdpass", func(e *env) []string { return []string{"1", itoa(z.fdpass1)} },
				func(e *env) []string { return []string{"fdpass", "try", "1", itoa(z.fdpass1)} }),
			timeout: 2 * time.Minute,
		},
		{
			// One call per message in C and Python; a batch API in Go
			// (sendmmsg/recvmmsg) and fdwire (sock.sendfds_many/recvfds_many).
			id: "fdpass1-batch",
			metrics: []*metric{{name: "fd passing, 1 fd/message, batch API (C, Python: one call per message)", unit: "msg/s", higher: true, pick: result(0),
				target: &target{vs: implC, ratio: 0.9}}},
			argv: func(e *env, impl int) ([]string, string) {
				if impl == implFdwire {
					p, why := luaprog(e, "fdpass_many")
					if why != "" {
						return nil, why
					}
					return []string{e.fdwire, p, "1", itoa(z.fdpass1)}, ""
				}
				return simple("fdpass", func(e *env) []string { return []string{"1", itoa(z.fdpass1)} },
					func(e *env) []string { return []string{"fdpass", "mmsg", "1", itoa(z.fdpass1)} })(e, impl)
			},
			timeout: 2 * time.Minute,
		},
		{
			id: "fdpass253",
			metrics: []*metric{{name: "fd passing, 253 fds/message (Go: try-first, close_range runs)", unit: "fds/s", higher: true, pick: result(1),
				target: &target{vs: implC, ratio: 1.1}}},
			argv: simple("fdpass", func(e *env) []string { return []string{"253", itoa(z.fdpass253)} },
				func(e *env) []string { return []string{"fdpass", "try-cr", "253", itoa(z.fdpass253)} }),
			timeout: 2 * time.Minute,
		},
		{
			// The Go baseline's other protocols, for the floor discussion
			// in docs/performance.md: Go only.
			id: "gofdpass",
			metrics: []*metric{
				{name: "Go only: 1 fd/message, blocking calls", unit: "msg/s", higher: true, pick: result(0)},
				{name: "Go only: 253 fds/message, blocking calls", unit: "fds/s", higher: true, pick: result(1)},
				{name: "Go only: 253 fds/message, try-first, one close each", unit: "fds/s", higher: true, pick: result(2)},
			},
			custom:  goFdpassVariants(z),
			timeout: 2 * time.Minute,
		},
		{
			id: "spawn",
			metrics: []*metric{{name: "spawn /bin/true, 3 fds mapped (Go: syscall.ForkExec)", unit: "spawn/s", higher: true, pick: result(0),
				target: &target{vs: implGo, ratio: 0.97}}},
			argv: simple("spawn", func(e *env) []string { return []string{itoa(z.spawn)} },
				func(e *env) []string { return []string{"spawn", itoa(z.spawn)} }),
			timeout: 2 * time.Minute,
		},
		{
			id: "connpass",
			metrics: []*metric{
				{name: fmt.Sprintf("connections passed listener → handler (%s conns, %d at a time; fdwire: portlisten + hello-handler.lua)", commas(z.conns), connConcurrency),
					unit: "conn/s", higher: true, pick: result(0), target: &target{vs: implC, ratio: 0.8}},
				{name: fmt.Sprintf("connections served, fdwire: a Lua accept loop (C, Go: the listener → handler pair; %s conns)", commas(z.conns)),
					unit: "conn/s", higher: true, pick: result(1)},
			},
			custom:  connpass(z.conns),
			timeout: 3 * time.Minute,
		},
		{
			id:      "relay",
			metrics: []*metric{{name: "pipe relay (splice)", unit: "MB/s", higher: true, pick: result(0)}},
			argv: func(e *env, impl int) ([]string, string) {
				if impl == implGo {
					return nil, ""
				}
				rb, why := cprog(e, "relay")
				if why != "" {
					return nil, "needs the C relay as source and sink: " + why
				}
				bytes := itoa(z.relay)
				if impl == implC {
					return []string{rb, bytes}, ""
				}
				return simple("relay", func(*env) []string { return []string{rb, bytes} }, nil)(e, impl)
			},
			timeout: 2 * time.Minute,
		},
		{
			id: "startup",
			metrics: []*metric{{name: "start-up, empty script (C: lua5.4; Go: a program that exits)", unit: "ms", pick: result(0),
				target: &target{vs: -1, bound: 2}}},
			custom:  startup,
			timeout: time.Minute,
		},
		{
			id: "procs",
			metrics: []*metric{
				{name: fmt.Sprintf("%d processes spawned, killed, reaped", z.procs), unit: "s", pick: result(0)},
				{name: fmt.Sprintf("peak RSS, %d processes", z.procs), unit: "MB", pick: maxRSS},
			},
			argv:    simple("procs", func(e *env) []string { return []string{itoa(z.procs)} }, nil),
			timeout: 3 * time.Minute,
		},
	}
	// The topology-size sweep. C and Python have no topology engine: their
	// rows are the plain spawn/kill/wait programs of the procs workload.
	for _, n := range z.topo {
		m := []*metric{
			{name: fmt.Sprintf("%s-process topology up and down (C, Python: plain spawn)", commas(n)), unit: "s", pick: result(0)},
			{name: fmt.Sprintf("peak RSS, %s-process topology", commas(n)), unit: "MB", pick: maxRSS, sweepRSS: n},
		}
		if n == 1000 {
			m[0].target = &target{vs: implC, ratio: 1.5}
			m[1].target = &target{vs: -1, bound: 56}
		}
		n := itoa(n)
		ws = append(ws, &workload{
			id:      "topo" + n,
			metrics: m,
			argv: func(e *env, impl int) ([]string, string) {
				if impl == implFdwire {
					p, why := luaprog(e, "topo")
					if why != "" {
						return nil, why
					}
					return []string{e.fdwire, p, n}, ""
				}
				return simple("procs", func(*env) []string { return []string{n} }, nil)(e, impl)
			},
			timeout: 10 * time.Minute,
		})
	}
	return ws
}

// workloadIDs lists the ids -only accepts: every workload of a full run
// and of a quick one, and "topo" for the whole sweep.
func workloadIDs() []string {
	seen := map[string]bool{"topo": true}
	ids := []string{}
	for _, q := range []bool{false, true} {
		for _, w := range workloads(&env{quick: q}) {
			if !seen[w.id] {
				seen[w.id] = true
				ids = append(ids, w.id)
			}
		}
	}
	return append(ids, "topo")
}

func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// goFdpassVariants runs the Go baseline's blocking and one-close-each
// protocols (Go column only).
func goFdpassVariants(z sizes) func(e *env, impl int) (*outcome, string, error) {
	return func(e *env, impl int) (*outcome, string, error) {
		if impl != implGo {
			return nil, "", nil
		}
		b, why := goprog(e)
		if why != "" {
			return nil, why, nil
		}
		o := &outcome{}
		for _, a := range [][]string{
			{"fdpass", "block", "1", strconv.Itoa(z.fdpass1)},
			{"fdpass", "block", "253", strconv.Itoa(z.fdpass253)},
			{"fdpass", "try", "253", strconv.Itoa(z.fdpass253)},
		} {
			r, err := runProg(e, append([]string{b}, a...), 2*time.Minute)
			if err != nil {
				return nil, "", err
			}
			v := r.vals[0]
			if a[2] == "253" {
				v = r.vals[1]
			}
			o.vals = append(o.vals, v)
		}
		return o, "", nil
	}
}

// startup times lua5.4 -e "", gobase hello (a Go program that exits at
// once), python3 -c pass and fdwire -e "" from
// fork to reaped exit, 20 times per run (3 when quick), and reports the
// median in milliseconds.
func startup(e *env, impl int) (*outcome, string, error) {
	var argv []string
	switch impl {
	case implC:
		if e.lua == "" {
			return nil, "lua5.4 not installed (apt-get install lua5.4)", nil
		}
		argv = []string{e.lua, "-e", ""}
	case implGo:
		b, why := goprog(e)
		if why != "" {
			return nil, why, nil
		}
		argv = []string{b, "hello"}
	case implPython:
		if e.python == "" {
			return nil, "no python3", nil
		}
		argv = []string{e.python, "-c", "pass"}
	case implFdwire:
		argv = []string{e.fdwire, "-e", ""}
	}
	n := 20
	if e.quick {
		n = 3
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, "", err
	}
	defer devnull.Close()
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{devnull.Fd(), 1, 2}}
	ms := make([]float64, n)
	maxRSS := 0.0
	for i := range ms {
		t0 := time.Now()
		pid, err := syscall.ForkExec(argv[0], argv, attr)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", argv[0], err)
		}
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		if _, err := syscall.Wait4(pid, &ws, 0, &ru); err != nil {
			return nil, "", err
		}
		ms[i] = float64(time.Since(t0)) / float64(time.Millisecond)
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return nil, "", fmt.Errorf("%s exited with %v", filepath.Base(argv[0]), ws)
		}
		maxRSS = max(maxRSS, float64(ru.Maxrss)/1024)
	}
	sort.Float64s(ms)
	return &outcome{vals: []float64{median(ms)}, maxRSS: maxRSS}, "", nil
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
