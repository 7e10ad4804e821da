package tests

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// More tasks waiting on one descriptor than RLIMIT_NOFILE allows open
// files: poll(2) refuses a set larger than that limit with EINVAL, which
// used to end the script; one poll entry per descriptor keeps it working.
func TestManyTasksOnOneDescriptorUnderLowNofile(t *testing.T) {
	leakcheck.Check(t)
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed; .ci/run installs it")
	}
	script := `
local r, w = fd.pipe()
local n, woke = 200, 0
local ts = {}
for i = 1, n do
	ts[i] = task.spawn(function() fd.ready(r, "r"); woke = woke + 1 end)
end
task.yield()
w:write("x")
for i = 1, n do task.wait(ts[i]) end
print(woke)
`
	res := fdwireCmd(t, "", func(c *exec.Cmd) {
		c.Path, _ = exec.LookPath("prlimit")
		c.Args = append([]string{"prlimit", "--nofile=64:64", fdwireBin}, c.Args[1:]...)
	}, "-e", script)
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "200" {
		t.Fatalf("200 tasks on one pipe at RLIMIT_NOFILE 64: %+v", res)
	}
}
