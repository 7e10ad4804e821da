package tests

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

func TestAnonSocketScript(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (apt-get install python3-minimal)")
	}
	leakcheck.Check(t)
	tmp := t.TempDir()
	r := fdwireCmd(t, "", func(c *exec.Cmd) { c.Env = append(c.Env, "TMPDIR="+tmp) }, "scripts/anon-socket.lua")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"listening anon>", "hello from fdwire\nhello from python\n", "after close: ECONNREFUSED"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	assertEmpty(t, tmp)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("left on disk: %s/%s", dir, e.Name())
	}
}

// TestAnonWithoutProc: in a mount namespace without /proc, connecting
// through an address handle and to a long path fails saying so.
func TestAnonWithoutProc(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a private mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare is not installed (util-linux)")
	}
	leakcheck.Check(t)
	dir := t.TempDir() + "/" + strings.Repeat("x", 60) + "/" + strings.Repeat("y", 60)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	long := dir + "/s.sock"
	script := `
local l, a = sock.bind_anon{}
local ok, err = pcall(sock.connect, a)
assert(not ok, "connected without /proc")
print(err)
ok, err = pcall(sock.connect, "` + long + `")
print(err)
`
	r := fdwireCmd(t, "", func(c *exec.Cmd) {
		c.Path = unshare
		c.Args = []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
			`umount -l /proc && exec "$0" -e "$1"`, fdwireBin, script}
	})
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("output:\n%s", r.Stdout)
	}
	for _, l := range lines {
		if !strings.Contains(l, "ENOENT") || !strings.Contains(l, "/proc is not mounted") {
			t.Errorf("error does not say /proc is missing: %s", l)
		}
	}
}

// TestAnonInterrupted: a script interrupted (SIGINT, SIGTERM) while a
// publishable handle's private name exists leaves nothing on disk, nor
// does one that published and then failed.
func TestAnonInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			leakcheck.Check(t)
			tmp := t.TempDir()
			pub := t.TempDir()
			cmd := exec.Command(fdwireBin, "-e", `
local l, a = sock.bind_anon{publishable = true}
local l2, a2 = sock.bind_anon{publishable = true}
sock.publish(a2, "`+pub+`/pub.sock")
local l3, a3 = sock.bind_anon{}
print("ready")
io.stdout:flush()
task.sleep(60)
`)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			if line != "ready\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("script said %q", line)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
				t.Errorf("want one private dir while running, got %d", len(ents))
			}
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatal("fdwire did not exit on " + sig.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
				t.Errorf("exit %d, want %d", code, 128+int(sig))
			}
			assertEmpty(t, tmp)
			assertEmpty(t, pub)
		})
	}
}
