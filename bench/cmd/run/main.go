// Command run builds the C baselines and fdwire, runs every benchmark
// workload in C, Python and fdwire on this machine, and prints one
// table: metric, C, Go, Python, fdwire and fdwire's ratio to each, every
// cell a median with min..max. The Go column is bench/baseline/gobase, the
// same protocol in plain Go: the floor under fdwire's Lua binding.
// bench/run is the wrapper to call.
//
//	bench/run            5 runs of every workload at full size
//	bench/run --quick    1 run of every workload at a small size (tests);
//	                     rows say the sizes run, absolute targets are not graded
//	bench/run -n 3       3 runs
//	bench/run -only fdpass1,startup   (ids: bench/run -list)
//	bench/run -fdwire ./fdwire   measure this binary instead of building one
//	bench/run -cgo               build fdwire with cgo (default: CGO_ENABLED=0)
//
// The programs print "RESULT v1 v2 ..." on their last line; each workload
// says which value it reports. Where a tool is missing (gcc, python3,
// lua5.4) its column shows "-" and a note says why; nothing fails for it.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "run each workload once with small counts")
	runs := flag.Int("n", 5, "runs of each workload")
	only := flag.String("only", "", "comma-separated workload ids to run (default all)")
	keep := flag.String("build", "", "directory for built binaries (default a temporary one)")
	prebuilt := flag.String("fdwire", "", "use this fdwire binary instead of building ./cmd/fdwire")
	cgo := flag.Bool("cgo", false, "build fdwire with cgo (the default go build here) instead of CGO_ENABLED=0")
	list := flag.Bool("list", false, "print the workload ids -only accepts, and exit")
	flag.CommandLine.Init("bench/run", flag.ExitOnError)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: bench/run [--quick] [-n RUNS] [-only ID,...] [-fdwire BIN] [-cgo] [-build DIR]\n\n"+
			"Builds the C and Go baselines and fdwire, runs every workload with C, Go, Python and fdwire\n"+
			"interleaved, and prints one table (see docs/performance.md).\n\n")
		flag.PrintDefaults()
		fmt.Fprintf(os.Stderr, "\nworkload ids: %s\n", strings.Join(workloadIDs(), ", "))
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench/run: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	if *list {
		fmt.Println(strings.Join(workloadIDs(), "\n"))
		return
	}
	var wanted []string
	if *only != "" {
		known := workloadIDs()
		for _, id := range strings.Split(*only, ",") {
			id = strings.TrimSpace(id)
			if !contains(known, id) {
				fmt.Fprintf(os.Stderr, "bench/run: -only: unknown workload %q (known: %s)\n", id, strings.Join(known, ", "))
				os.Exit(2)
			}
			wanted = append(wanted, id)
		}
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "bench/run: -n must be at least 1")
		os.Exit(2)
	}
	if *quick {
		*runs = 1
	}
	root, err := repoRoot()
	if err != nil {
		fatal(err)
	}
	dir := *keep
	if dir == "" {
		dir, err = os.MkdirTemp("", "fdwire-bench-")
		if err != nil {
			fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	// A 10,000-process topology holds three descriptors per process (its
	// pidfd and two output pipes): more than a common hard RLIMIT_NOFILE of
	// 20,000. Root may raise it for every program measured.
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Max < 1<<20 && os.Geteuid() == 0 {
		want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	env, err := prepare(root, dir, *prebuilt, *cgo)
	if err != nil {
		fatal(err)
	}
	env.quick = *quick
	fmt.Print(machine(env))
	var rows []*row
	for _, w := range workloads(env) {
		if wanted != nil && !contains(wanted, w.id) && !(contains(wanted, "topo") && strings.HasPrefix(w.id, "topo")) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s ...\n", w.id)
		rows = append(rows, w.measure(env, *runs)...)
	}
	fmt.Println()
	fmt.Print(table(rows, *runs, *quick))
	if n := sweepNote(rows); n != "" {
		fmt.Println("\n" + n)
	}
	if *quick {
		fmt.Println("\n--quick: small counts (the row names say them), one run: a smoke test, not a measurement; absolute targets are not graded.")
	}
	if len(env.notes) > 0 {
		fmt.Println()
		for _, n := range env.notes {
			fmt.Println("- " + n)
		}
	}
	failed := false
	for _, r := range rows {
		if r.err != "" {
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// repoRoot finds the module root from the working directory upward.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "bench", "baseline")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return d, nil
			}
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("run me from inside the fdwire repository")
		}
		d = p
	}
}

// env is what the workloads need: built binaries and interpreters.
type env struct {
	root, dir string
	quick     bool
	fdwire    string
	gobase    string            // the Go baseline ("" when it did not build)
	python    string            // "" when python3 is missing
	lua       string            // "" when lua5.4 is missing
	cbin      map[string]string // baseline name -> binary ("" when gcc is missing)
	notes     []string
}

func (e *env) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	for _, x := range e.notes {
		if x == n {
			return
		}
	}
	e.notes = append(e.notes, n)
}

func (e *env) path(rel string) string { return filepath.Join(e.root, rel) }

// prepare builds fdwire and every bench/baseline/*.c, and finds python3
// and lua5.4.
func prepare(root, dir, prebuilt string, cgo bool) (*env, error) {
	e := &env{root: root, dir: dir, cbin: map[string]string{}}
	if prebuilt != "" {
		abs, err := filepath.Abs(prebuilt)
		if err != nil {
			return nil, err
		}
		e.fdwire = abs
	} else {
		e.fdwire = filepath.Join(dir, "fdwire")
		build := exec.Command("go", "build", "-o", e.fdwire, "./cmd/fdwire")
		build.Dir = root
		build.Stderr = os.Stderr
		// fdwire needs no C; a cgo build (pulled in by os/user and net)
		// links libc dynamically and starts several ms slower.
		build.Env = os.Environ()
		if !cgo {
			build.Env = append(build.Env, "CGO_ENABLED=0")
		}
		e.note("fdwire built with CGO_ENABLED=%d", map[bool]int{true: 1, false: 0}[cgo])
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/fdwire: %w", err)
		}
	}
	e.gobase = filepath.Join(dir, "gobase")
	gb := exec.Command("go", "build", "-o", e.gobase, "./bench/baseline/gobase")
	gb.Dir = root
	gb.Stderr = os.Stderr
	gb.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := gb.Run(); err != nil {
		return nil, fmt.Errorf("go build ./bench/baseline/gobase: %w", err)
	}
	srcs, _ := filepath.Glob(filepath.Join(root, "bench", "baseline", "*.c"))
	gcc, gerr := exec.LookPath("gcc")
	if gerr != nil {
		gcc, gerr = exec.LookPath("cc")
	}
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		if gerr != nil {
			e.cbin[name] = ""
			continue
		}
		out := filepath.Join(dir, name)
		cc := exec.Command(gcc, "-O2", "-pthread", "-o", out, src)
		cc.Stderr = os.Stderr
		if err := cc.Run(); err != nil {
			return nil, fmt.Errorf("gcc %s: %w", src, err)
		}
		e.cbin[name] = out
	}
	if gerr != nil {
		e.note("no C compiler (gcc or cc): the C column is empty")
	}
	// The real interpreter, not a shim script (pyenv's would add tens of
	// milliseconds to every start).
	if py, err := exec.LookPath("python3"); err == nil {
		out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			e.python = strings.TrimSpace(string(out))
		}
	}
	if e.python == "" {
		e.note("python3 not found: the Python column is empty")
	}
	if l, err := exec.LookPath("lua5.4"); err == nil {
		e.lua = l
	}
	return e, nil
}

// machine describes where the numbers come from.
func machine(e *env) string {
	var b strings.Builder
	model := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var u syscall.Utsname
	kernel := "unknown"
	if syscall.Uname(&u) == nil {
		kernel = cstr(u.Release[:])
	}
	fmt.Fprintf(&b, "machine: %d CPUs (nproc), %s, Linux %s, %s\n", runtime.NumCPU(), model, kernel, runtime.Version())
	ver := func(argv ...string) string {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	if gcc, err := exec.LookPath("gcc"); err == nil {
		fmt.Fprintf(&b, "C: %s -O2\n", ver(gcc, "--version"))
	}
	if e.python != "" {
		fmt.Fprintf(&b, "Python: %s (%s)\n", ver(e.python, "--version"), e.python)
	}
	if e.lua != "" {
		fmt.Fprintf(&b, "Lua: %s\n", ver(e.lua, "-v"))
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&b, "load average before the run: %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	return b.String()
}

func cstr(bs []int8) string {
	var s []byte
	for _, c := range bs {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// outcome is one run of one implementation.
type outcome struct {
	vals   []float64 // the RESULT line
	maxRSS float64   // peak resident set of the process, in MB
}

// runProg runs argv, returns its RESULT values and peak RSS.
func runProg(e *env, argv []string, timeout time.Duration) (*outcome, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = e.root
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lastLines(errb.String(), 5))
	}
	o := &outcome{}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		o.maxRSS = float64(ru.Maxrss) / 1024
	}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "RESULT" {
			o.vals = o.vals[:0]
			for _, s := range f[1:] {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: bad RESULT line %q", argv[0], line)
				}
				o.vals = append(o.vals, v)
			}
		}
	}
	if len(o.vals) == 0 {
		return nil, fmt.Errorf("%s: no RESULT line in its output: %s", strings.Join(argv, " "), lastLines(out.String()+errb.String(), 5))
	}
	return o, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
