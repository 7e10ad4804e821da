package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// TestManRecvDemo runs the EXAMPLES of fdwire-recv(1) and fdwire-send(1),
// the util-linux fdsend/fdrecv proposal's demo, exactly as the page shows
// it: a receiver running cat on the descriptor it gets, and echo piped
// into a sender.
func TestManRecvDemo(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "man", "--roff", "recv")
	if r.Code != 0 || !strings.Contains(r.Stdout, "fdwire recv \\-f 0 test \\-\\-run cat &") {
		t.Fatalf("fdwire man --roff recv lacks the demo: %+v", r)
	}
	xdg := t.TempDir()
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+xdg)
	recv := exec.Command(fdwireBin, "recv", "-f", "0", "test", "--run", "cat")
	recv.Env = env
	var out bytes.Buffer
	recv.Stdout, recv.Stderr = &out, &out
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	// --blocking: the receiver may not be listening yet.
	send := exec.Command("sh", "-c", `echo 'hello world' | "$0" send --blocking -f 0 test`, fdwireBin)
	send.Env = env
	if b, err := send.CombinedOutput(); err != nil {
		recv.Process.Kill()
		recv.Wait()
		t.Fatalf("send: %v\n%s", err, b)
	}
	if err := recv.Wait(); err != nil || out.String() != "hello world\n" {
		t.Fatalf("recv: %v, output %q", err, out.String())
	}
}

// TestManCommand shows a page through man, refuses an unknown one, and
// installs every page where man -M finds them.
func TestManCommand(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed (Debian: man-db; .ci/run installs it)")
	}
	r := fdwireCmd(t, "", func(c *exec.Cmd) { c.Env = append(c.Env, "MANWIDTH=80") }, "man", "recv")
	if r.Code != 0 || !strings.Contains(r.Stdout, "EXAMPLES") || !strings.Contains(r.Stdout, "hello world") {
		t.Fatalf("fdwire man recv: %+v", r)
	}
	if r := fdwire(t, "", "man", "bogus"); r.Code != 2 || !strings.Contains(r.Stderr, `no page for "bogus"`) {
		t.Fatalf("fdwire man bogus: %+v", r)
	}
	if r := fdwire(t, "", "man", "--bogus"); r.Code != 2 || !strings.Contains(r.Stderr, "unknown option --bogus") {
		t.Fatalf("fdwire man --bogus: %+v", r)
	}
	dir := t.TempDir()
	if r := fdwire(t, "", "man", "--install", dir); r.Code != 0 {
		t.Fatalf("--install: %+v", r)
	}
	for _, page := range []string{"fdwire", "fdwire-recv", "fdwire-hold-store", "fdwire-lua"} {
		out, err := exec.Command("man", "-M", dir, "-w", page).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), dir) {
			t.Errorf("man -M %s -w %s: %v %s", dir, page, err, out)
		}
	}
	if r := fdwire(t, "", "man", "--install", filepath.Join(dir, "man1", "fdwire.1", "x")); r.Code != 1 {
		t.Errorf("--install under a file: %+v", r)
	}
}
