package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// An accept error says nothing about the daemon's health when it is
// EMFILE: portlisten, out of descriptors because of the connections it
// holds for an absent handler, logs it once, backs off, keeps what it
// holds, and accepts again once --retry has closed some. It used to end
// with exit 0 at the first accept error, dropping everything held.
func TestToolPortlistenAcceptEMFILERetries(t *testing.T) {
	leakcheck.Check(t)
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed; .ci/run installs it")
	}
	env, _ := toolEnv(t)
	port := freePort(t)
	prlimit, _ := exec.LookPath("prlimit")
	const conns = 40
	pl := progStart(t, env, nil, prlimit, "--nofile=32:32", fdwireBin, "portlisten", "--count", fmt.Sprint(conns),
		"--retry", "0.5", "--max-held", "1000", fmt.Sprintf("tcp:127.0.0.1:%d", port), fmt.Sprintf("@fdwire-emfile-absent-%d", os.Getpid()))
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v; portlisten: %s", i, err, pl.Stderr())
		}
		open = append(open, c)
	}
	if code := pl.wait(t); code != 0 {
		t.Fatalf("exit %d after %d connections: %s", code, conns, pl.Stderr())
	}
	errs := pl.Stderr()
	if !strings.Contains(errs, "accept: ") || !strings.Contains(errs, "EMFILE") || !strings.Contains(errs, "retrying with backoff") {
		t.Fatalf("no EMFILE logged at 32 descriptors with %d connections held: %s", conns, errs)
	}
	if !strings.Contains(errs, "accept works again after") {
		t.Errorf("the end of the accept errors not logged: %s", errs)
	}
	if n := strings.Count(errs, "(--retry)"); n != conns {
		t.Errorf("%d of %d connections closed with their reason logged: %s", n, conns, errs)
	}
	// Every connection was closed by portlisten (EOF), none left hanging.
	for i, c := range open {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("connection %d: read %d, %v (want EOF)", i, n, err)
		}
	}
}

// Any other accept error ends portlisten with exit 1 and the error, not
// exit 0: shutdown(2) of the listening socket it inherited (fd:3) makes
// its accept fail with EINVAL.
func TestToolPortlistenAcceptErrorFails(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	ln, lf, _ := inheritedListener(t)
	h := fmt.Sprintf("@fdwire-accerr-absent-%d", os.Getpid())
	pl := toolStart(t, env, func(c *exec.Cmd) { c.ExtraFiles = []*os.File{lf} }, "portlisten", "--retry", "10", "fd:3", h)
	eventually(t, "listening", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	time.Sleep(100 * time.Millisecond) // test-side only: let it reach accept
	if err := unix.Shutdown(ln, unix.SHUT_RDWR); err != nil {
		t.Fatal(err)
	}
	if code := pl.wait(t); code != 1 || !strings.Contains(pl.Stderr(), "EINVAL") {
		t.Fatalf("exit %d after the listener was shut down (want 1, EINVAL): %s", code, pl.Stderr())
	}
}
