// Package leakcheck is the shared test helper that asserts a test left no
// descriptor open and no child process behind.
package leakcheck

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/runtime/fdio"
)

// Check records this process's open descriptors and children now and, at
// the test's end (t.Cleanup), fails if any descriptor opened since is
// still open or any new child process still exists (zombies included).
// Tests that use it must not run in parallel with others in the package.
func Check(t testing.TB) {
	t.Helper()
	before := fdio.OpenNumbers()
	kids := children()
	t.Cleanup(func() {
		// Give exiting children a moment to be reaped by their waiters.
		var extra []int
		var extraKids []string
		for i := 0; i < 50; i++ {
			reapWardens()
			extra = diff(fdio.OpenNumbers(), before)
			extraKids = diffStr(children(), kids)
			if len(extra) == 0 && len(extraKids) == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, n := range extra {
			link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(n))
			t.Errorf("leaked fd %d -> %s", n, link)
		}
		for _, k := range extraKids {
			t.Errorf("child left behind: %s", k)
		}
	})
}

func diff(now, before []int) []int {
	var out []int
	for _, n := range now {
		if !slices.Contains(before, n) {
			out = append(out, n)
		}
	}
	return out
}

func diffStr(now, before []string) []string {
	var out []string
	for _, n := range now {
		pid := strings.Fields(n)[0]
		found := false
		for _, b := range before {
			if strings.Fields(b)[0] == pid {
				found = true
			}
		}
		if !found {
			out = append(out, n)
		}
	}
	return out
}

// children lists this process's direct children as "PID STATE COMM".
func children() []string {
	self := os.Getpid()
	var out []string
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, tk := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%s/children", tk.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			stat, _ := os.ReadFile("/proc/" + f + "/stat")
			s := string(stat)
			if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 {
				out = append(out, f+" "+s[i+2:i+3]+" "+s[strings.IndexByte(s, '(')+1:i])
			} else {
				out = append(out, f)
			}
		}
	}
	_ = self
	return out
}

// reapWardens reaps the exited fdwire wardens that came to this process:
// after a test SIGKILLs an fdwire, its warden cleans up, exits, and is
// re-parented to the test binary (a subreaper), which nobody else waits
// for. A warden still running is left to be reported if it stays.
func reapWardens() {
	for _, k := range children() {
		f := strings.Fields(k)
		if len(f) == 3 && f[1] == "Z" && f[2] == "fdwire-warden" {
			pid, _ := strconv.Atoi(f[0])
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}
