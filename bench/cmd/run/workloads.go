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

// The three implementations, in table order.
const (
	implC = iota
	implPython
	implFdwire
	nImpl
)

var implNames = [nImpl]string{"C", "Python", "fdwire"}

// metric is one table row that a workload's runs feed.
type metric struct {
	name   string
	unit   string
	higher bool // higher is better (a rate) or lower is (a time)
	pick   func(o *outcome) float64
	target *target
}

// target is a goal for the fdwire column: a ratio against C or Python
// (fdwire/base, on the metric itself), or an absolute bound.
type target struct {
	vs    int     // implC, implPython, or -1 for an absolute bound
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

// simple is a workload whose three programs take the same arguments.
func simple(name string, args func(e *env) []string) func(e *env, impl int) ([]string, string) {
	return func(e *env, impl int) ([]string, string) {
		var argv []string
		switch impl {
		case implC:
			b, why := cprog(e, name)
			if why != "" {
				return nil, why
			}
			argv = []string{b}
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

func workloads() []*workload {
	return []*workload{
		{
			id: "fdpass1",
			metrics: []*metric{{name: "fd passing, 1 fd/message", unit: "msg/s", higher: true, pick: result(0),
				target: &target{vs: implPython, ratio: 1.1}}},
			argv:    simple("fdpass", func(e *env) []string { return []string{"1", size(e, 2000, 100000)} }),
			timeout: 2 * time.Minute,
		},
		{
			id: "fdpass253",
			metrics: []*metric{{name: "fd passing, 253 fds/message", unit: "fds/s", higher: true, pick: result(1),
				target: &target{vs: implC, ratio: 0.9}}},
			argv:    simple("fdpass", func(e *env) []string { return []string{"253", size(e, 40, 5000)} }),
			timeout: 2 * time.Minute,
		},
		{
			id: "spawn",
			metrics: []*metric{{name: "spawn /bin/true, 3 fds mapped", unit: "spawn/s", higher: true, pick: result(0),
				target: &target{vs: implC, ratio: 0.95}}},
			argv:    simple("spawn", func(e *env) []string { return []string{size(e, 20, 1000)} }),
			timeout: 2 * time.Minute,
		},
		{
			id:      "relay",
			metrics: []*metric{{name: "pipe relay (splice)", unit: "MB/s", higher: true, pick: result(0)}},
			argv: func(e *env, impl int) ([]string, string) {
				rb, why := cprog(e, "relay")
				if why != "" {
					return nil, "needs the C relay as source and sink: " + why
				}
				bytes := size(e, 8<<20, 512<<20)
				if impl == implC {
					return []string{rb, bytes}, ""
				}
				return simple("relay", func(*env) []string { return []string{rb, bytes} })(e, impl)
			},
			timeout: 2 * time.Minute,
		},
		{
			id: "startup",
			metrics: []*metric{{name: "start-up, empty script (C: lua5.4)", unit: "ms", pick: result(0),
				target: &target{vs: -1, bound: 3}}},
			custom:  startup,
			timeout: time.Minute,
		},
		{
			id: "procs",
			metrics: []*metric{
				{name: "1000 processes spawned, killed, reaped", unit: "s", pick: result(0)},
				{name: "peak RSS, 1000 processes", unit: "MB", pick: maxRSS},
			},
			argv:    simple("procs", func(e *env) []string { return []string{size(e, 20, 1000)} }),
			timeout: 3 * time.Minute,
		},
		{
			// C and Python have no topology engine: their rows are the
			// plain spawn/kill/wait programs of the procs workload.
			id: "topo",
			metrics: []*metric{
				{name: "1000-process topology up and down (C, Python: plain spawn)", unit: "s", pick: result(0),
					target: &target{vs: -1, bound: 1.5}},
				{name: "peak RSS, 1000-process topology", unit: "MB", pick: maxRSS},
			},
			argv: func(e *env, impl int) ([]string, string) {
				n := size(e, 20, 1000)
				if impl == implFdwire {
					p, why := luaprog(e, "topo")
					if why != "" {
						return nil, why
					}
					return []string{e.fdwire, p, n}, ""
				}
				return simple("procs", func(*env) []string { return []string{n} })(e, impl)
			},
			timeout: 3 * time.Minute,
		},
	}
}

// startup times lua5.4 -e "", python3 -c pass and fdwire -e "" from
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
