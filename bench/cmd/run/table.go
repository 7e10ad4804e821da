package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// row is one metric's samples: vals[impl][run].
type row struct {
	m    *metric
	vals [nImpl][]float64
	err  string
}

// measure runs the workload runs times, the implementations
// interleaved within each run so that drift in the machine's load hits
// them alike.
func (w *workload) measure(e *env, runs int) []*row {
	rows := make([]*row, len(w.metrics))
	for i, m := range w.metrics {
		rows[i] = &row{m: m}
	}
	skipped := [nImpl]bool{}
	for r := 0; r < runs; r++ {
		for impl := 0; impl < nImpl; impl++ {
			if skipped[impl] {
				continue
			}
			var o *outcome
			var why string
			var err error
			if w.custom != nil {
				o, why, err = w.custom(e, impl)
			} else {
				var argv []string
				argv, why = w.argv(e, impl)
				if why == "" && argv != nil {
					o, err = runProg(e, argv, w.timeout)
				}
			}
			if why == "" && o == nil && err == nil {
				// no program for this row in this column
				skipped[impl] = true
				continue
			}
			if why != "" {
				skipped[impl] = true
				e.note("%s, %s: not run: %s", w.id, implNames[impl], why)
				continue
			}
			if err != nil {
				skipped[impl] = true
				for _, rw := range rows {
					rw.err = fmt.Sprintf("%s failed", implNames[impl])
				}
				e.note("%s, %s: FAILED: %v", w.id, implNames[impl], err)
				fmt.Fprintf(os.Stderr, "bench: %s, %s: %v\n", w.id, implNames[impl], err)
				continue
			}
			for _, rw := range rows {
				rw.vals[impl] = append(rw.vals[impl], rw.m.pick(o))
			}
		}
	}
	return rows
}

// stat is a median with its range.
type stat struct {
	med, lo, hi float64
	n           int
}

func summarize(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return stat{med: median(s), lo: s[0], hi: s[len(s)-1], n: len(s)}
}

// ratios pairs run i of fdwire with run i of base.
func ratios(fd, base []float64) []float64 {
	var out []float64
	for i := 0; i < len(fd) && i < len(base); i++ {
		if base[i] != 0 {
			out = append(out, fd[i]/base[i])
		}
	}
	return out
}

func fmtNum(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func cell(s stat, unit string, ratio bool) string {
	if s.n == 0 {
		return "-"
	}
	f := fmtNum
	if ratio {
		f = func(v float64) string { return fmt.Sprintf("%.2f", v) }
	}
	out := f(s.med)
	if unit != "" {
		out += " " + unit
	}
	if s.n > 1 {
		out += " (" + f(s.lo) + ".." + f(s.hi) + ")"
	}
	return out
}

// verdict checks the fdwire median against the row's target; quick runs
// (small sizes, one run) do not grade absolute bounds.
func verdict(r *row, quick bool) string {
	t := r.m.target
	if t == nil {
		return ""
	}
	if quick && t.vs < 0 {
		return t.String(r.m) + ": not graded (--quick)"
	}
	var v float64
	if t.vs >= 0 {
		rs := ratios(r.vals[implFdwire], r.vals[t.vs])
		if len(rs) == 0 {
			return t.String(r.m) + ": not measured"
		}
		v = summarize(rs).med
		if (r.m.higher && v >= t.ratio) || (!r.m.higher && v <= t.ratio) {
			return t.String(r.m) + ": met"
		}
		return t.String(r.m) + ": MISSED"
	}
	if len(r.vals[implFdwire]) == 0 {
		return t.String(r.m) + ": not measured"
	}
	v = summarize(r.vals[implFdwire]).med
	if (r.m.higher && v >= t.bound) || (!r.m.higher && v <= t.bound) {
		return t.String(r.m) + ": met"
	}
	return t.String(r.m) + ": MISSED"
}

// table renders the rows as a Markdown table.
func table(rows []*row, runs int, quick bool) string {
	head := []string{"metric", "C", "Go", "Python", "fdwire", "fdwire/C", "fdwire/Go", "fdwire/Python", "target"}
	var cells [][]string
	for _, r := range rows {
		dir := "higher is better"
		if !r.m.higher {
			dir = "lower is better"
		}
		c := []string{fmt.Sprintf("%s (%s)", r.m.name, dir)}
		for impl := 0; impl < nImpl; impl++ {
			c = append(c, cell(summarize(r.vals[impl]), r.m.unit, false))
		}
		for _, base := range []int{implC, implGo, implPython} {
			c = append(c, cell(summarize(ratios(r.vals[implFdwire], r.vals[base])), "", true))
		}
		v := verdict(r, quick)
		if r.err != "" {
			v = strings.TrimSpace(v + " " + r.err)
		}
		c = append(c, v)
		cells = append(cells, c)
	}
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len([]rune(h))
	}
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	var b strings.Builder
	line := func(c []string) {
		b.WriteString("|")
		for i, s := range c {
			b.WriteString(" " + s + strings.Repeat(" ", width[i]-len([]rune(s))) + " |")
		}
		b.WriteString("\n")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, c := range cells {
		line(c)
	}
	fmt.Fprintf(&b, "\nEach cell: median of %d run(s) (min..max). Ratios pair run i of fdwire with run i of the other; for rates above 1 favours fdwire, for times and sizes below 1 does.\n", runs)
	return b.String()
}

// sweepNote says how fdwire's topology peak RSS grows per added process
// between the sizes of the sweep (flat means a constant cost per process).
func sweepNote(rows []*row) string {
	type pt struct{ n, mb float64 }
	var pts []pt
	for _, r := range rows {
		if r.m.sweepRSS == 0 {
			continue
		}
		if s := summarize(r.vals[implFdwire]); s.n > 0 {
			pts = append(pts, pt{float64(r.m.sweepRSS), s.med})
		}
	}
	if len(pts) < 2 {
		return ""
	}
	var parts []string
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		parts = append(parts, fmt.Sprintf("%g→%g: %.1f KB", a.n, b.n, (b.mb-a.mb)*1024/(b.n-a.n)))
	}
	return "fdwire topology peak RSS per added process: " + strings.Join(parts, ", ")
}
