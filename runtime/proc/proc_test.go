package proc_test

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
)

// owner is the test binary's owner of the children its tests start.
var owner *proc.Owner

func TestMain(m *testing.M) {
	proc.RunTrampoline() // spawns with umask go through this binary
	if os.Getenv(mainThreadHelperEnv) != "" {
		os.Exit(mainThreadHelper())
	}
	var err error
	if owner, err = proc.NewOwner(proc.OwnerOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	owner.Close(time.Second)
	if reporterDir != "" {
		os.RemoveAll(reporterDir) // the compiled reporter, once per run
	}
	os.Exit(code)
}

// reporterC lists the descriptors it holds at start (dev and inode of
// each, and its umask), then writes the list to the file named by argv[1]:
// that file is opened only after the listing, so it is never in it.
const reporterC = `
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static char out[1 << 16];
int main(int argc, char **argv) {
	int len = 0;
	mode_t m = umask(0);
	len += snprintf(out + len, sizeof out - len, "umask %o\n", (unsigned)m);
	DIR *d = opendir("/proc/self/fd");
	if (!d) return 2;
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		int fd = atoi(e->d_name);
		struct stat st;
		if (fd == self || fstat(fd, &st) != 0) continue;
		len += snprintf(out + len, sizeof out - len, "%d %llu %llu\n", fd,
			(unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	}
	closedir(d);
	int o = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (o < 0 || write(o, out, len) != len) return 3;
	return 0;
}
`

var (
	reporterOnce sync.Once
	reporterPath string
	reporterErr  string
	reporterDir  string
)

// reporter compiles reporterC once (statically when the C library allows).
func reporter(t *testing.T) string {
	reporterOnce.Do(func() {
		cc, err := exec.LookPath("gcc")
		if err != nil {
			reporterErr = "gcc is not installed (the property test needs a tiny C reporter)"
			return
		}
		dir, err := os.MkdirTemp("", "fdwire-reporter-")
		if err != nil {
			reporterErr = err.Error()
			return
		}
		reporterDir = dir
		src := filepath.Join(dir, "r.c")
		os.WriteFile(src, []byte(reporterC), 0o600)
		bin := filepath.Join(dir, "reporter")
		if out, err := exec.Command(cc, "-O2", "-static", "-o", bin, src).CombinedOutput(); err != nil {
			if out2, err := exec.Command(cc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
				reporterErr = fmt.Sprintf("gcc failed: %s %s", out, out2)
				return
			}
		}
		os.Chmod(dir, 0o755)
		reporterPath = bin
	})
	if reporterPath == "" {
		t.Skip(reporterErr)
	}
	return reporterPath
}

type devIno struct{ dev, ino uint64 }

func statFd(t *testing.T, n int) devIno {
	var st unix.Stat_t
	if err := unix.Fstat(n, &st); err != nil {
		t.Fatalf("fstat %d: %v", n, err)
	}
	return devIno{st.Dev, st.Ino}
}

// TestSpawnMapProperty starts the reporter with random descriptor maps
// (random sizes, holes, swaps, cycles, one handle at several numbers,
// numbers above 1000, closed or /dev/null stdio, some through the
// trampoline) and checks that the child holds exactly its map.
func TestSpawnMapProperty(t *testing.T) {
	bin := reporter(t)
	leakcheck.Check(t)
	const maps = 1200
	// A pool of distinct kernel objects to map from.
	var pool []*fdio.FD
	for i := 0; i < 8; i++ {
		r, w, err := fdio.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		m, err := fdio.Memfd("pool")
		if err != nil {
			t.Fatal(err)
		}
		pool = append(pool, r, w, m)
	}
	defer func() {
		for _, f := range pool {
			f.Close()
		}
	}()
	want := map[*fdio.FD]devIno{}
	for _, f := range pool {
		want[f] = statFd(t, f.Raw())
	}
	var stdio [3]devIno
	for i := range stdio {
		stdio[i] = statFd(t, i)
	}
	var nullSt unix.Stat_t
	unix.Stat("/dev/null", &nullSt)
	devNull := devIno{nullSt.Dev, nullSt.Ino}
	poolNums := map[int]*fdio.FD{}
	for _, f := range pool {
		poolNums[f.Raw()] = f
	}
	dir := t.TempDir()
	umask := 0o027

	type job struct {
		seed int64
	}
	jobs := make(chan job)
	errs := make(chan string, maps)
	var wg sync.WaitGroup
	var tramp sync.Map
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if msg := runOneMap(t, bin, dir, j.seed, pool, poolNums, want, stdio, devNull, umask, &tramp); msg != "" {
					errs <- msg
				}
			}
		}()
	}
	for i := 0; i < maps; i++ {
		jobs <- job{int64(i)}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n < 10 {
			t.Error(e)
		}
		n++
	}
	if n > 0 {
		t.Errorf("%d of %d maps came out wrong", n, maps)
	}
	count := 0
	tramp.Range(func(any, any) bool { count++; return true })
	if count == 0 {
		t.Errorf("no map went through the trampoline")
	}
}

func runOneMap(t *testing.T, bin, dir string, seed int64, pool []*fdio.FD, poolNums map[int]*fdio.FD,
	want map[*fdio.FD]devIno, stdio [3]devIno, devNull devIno, umask int, tramp *sync.Map) string {
	rng := rand.New(rand.NewSource(seed))
	fds := map[int]*fdio.FD{}
	target := func() int {
		switch rng.Intn(10) {
		case 0, 1, 2, 3:
			return rng.Intn(12) // low numbers, colliding with 0-2 and the pool
		case 4, 5, 6:
			return pool[rng.Intn(len(pool))].Raw() // a source's own number: swaps
		case 7, 8:
			return 12 + rng.Intn(40)
		default:
			return 1000 + rng.Intn(200)
		}
	}
	size := rng.Intn(14)
	for i := 0; i < size; i++ {
		fds[target()] = pool[rng.Intn(len(pool))] // duplicates happen
	}
	if rng.Intn(4) == 0 {
		// an explicit cycle: each source goes to the next one's number
		k := 2 + rng.Intn(4)
		perm := rng.Perm(len(pool))[:k]
		for i := range perm {
			fds[pool[perm[(i+1)%k]].Raw()] = pool[perm[i]]
		}
	}
	a := proc.Attr{Argv: []string{bin, filepath.Join(dir, fmt.Sprintf("r%d", seed))}, Fds: fds}
	for i := 0; i < 3; i++ {
		a.Stdio[i] = []proc.Stdio{proc.StdioInherit, proc.StdioClose, proc.StdioNull}[rng.Intn(3)]
	}
	wantUmask := -1
	if rng.Intn(10) == 0 {
		a.Umask = &umask // through the trampoline
		wantUmask = umask
	}
	exp := map[int]devIno{}
	for k, f := range fds {
		exp[k] = want[f]
	}
	for i := 0; i < 3; i++ {
		if _, ok := fds[i]; ok {
			continue
		}
		switch a.Stdio[i] {
		case proc.StdioInherit:
			exp[i] = stdio[i]
		case proc.StdioNull:
			exp[i] = devNull
		}
	}
	p, err := owner.Spawn(a)
	if err != nil {
		return fmt.Sprintf("seed %d: spawn: %v", seed, err)
	}
	if p.Trampolined {
		tramp.Store(seed, true)
	}
	st, err := p.Wait(0)
	if err != nil || !st.Exited || st.Code != 0 {
		return fmt.Sprintf("seed %d: reporter ended %v %v (map %v)", seed, st, err, describe(fds))
	}
	b, err := os.ReadFile(a.Argv[1])
	os.Remove(a.Argv[1])
	if err != nil {
		return fmt.Sprintf("seed %d: %v", seed, err)
	}
	got := map[int]devIno{}
	gotUmask := -1
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var n int
		var d devIno
		if strings.HasPrefix(line, "umask ") {
			fmt.Sscanf(line, "umask %o", &gotUmask)
			continue
		}
		fmt.Sscanf(line, "%d %d %d", &n, &d.dev, &d.ino)
		got[n] = d
	}
	if wantUmask >= 0 && gotUmask != wantUmask {
		return fmt.Sprintf("seed %d: umask %o, want %o", seed, gotUmask, wantUmask)
	}
	var diffs []string
	for k, v := range exp {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %d", k))
		} else if g != v {
			diffs = append(diffs, fmt.Sprintf("fd %d is %v, want %v", k, g, v))
		}
	}
	for k := range got {
		if _, ok := exp[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %d", k))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Sprintf("seed %d (trampoline %v): %s; map %s", seed, p.Trampolined, strings.Join(diffs, ", "), describe(fds))
	}
	return ""
}

func describe(fds map[int]*fdio.FD) string {
	var keys []int
	for k := range fds {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%d<-%d ", k, fds[k].Raw())
	}
	return b.String()
}
