package tests

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// --max-held with no handler: the first connection is held (and closed
// after --retry), a second one arriving meanwhile is closed at once with
// its reason logged; both count toward --count. Delivery is woken by
// task.event now, not a socketpair bell: the held path must still behave
// exactly as docs/tools.md says.
func TestToolPortlistenMaxHeld(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	port := freePort(t)
	pl := toolStart(t, env, nil, "portlisten", "--count", "2", "--max-held", "1", "--retry", "1", "--user", "65534",
		fmt.Sprintf("tcp:127.0.0.1:%d", port), fmt.Sprintf("@fdwire-maxheld-absent-%d", os.Getpid()))
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	first := make(chan string, 1)
	go func() { first <- greeting(t, port) }()
	eventually(t, "the first connection to be held", func() bool {
		return strings.Contains(pl.Stderr(), "holding and retrying")
	})
	if g := greeting(t, port); g != "" {
		t.Fatalf("second connection got %q", g)
	}
	maxHeld := regexp.MustCompile(`closed connection from tcp:127\.0\.0\.1:\d+: 1 connections already held \(--max-held\)`)
	eventually(t, "the --max-held closing to be logged", func() bool { return maxHeld.MatchString(pl.Stderr()) })
	if g := <-first; g != "" {
		t.Fatalf("held connection got %q", g)
	}
	if code := pl.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, pl.Stderr())
	}
	if !strings.Contains(pl.Stderr(), "for 1 s (--retry)") {
		t.Errorf("--retry closing not logged: %s", pl.Stderr())
	}
}

// portlisten makes the listener it bound itself non-blocking (so accept
// needs no poll), but an inherited one, ADDR fd:N, is another process's
// description too: after connections went through it, it is still
// blocking, and a blocking accept in the parent still works.
func TestToolPortlistenInheritedListenerStaysBlocking(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	ln, lf, port := inheritedListener(t)
	h := fmt.Sprintf("@fdwire-inherit-h-%d", os.Getpid())
	handler := toolStart(t, env, nil, "scripts/hello-handler.lua", h, "2")
	pl := toolStart(t, env, func(c *exec.Cmd) { c.ExtraFiles = []*os.File{lf} }, "portlisten", "--count", "2", "--retry", "10", "fd:3", h)
	for i := 0; i < 2; i++ {
		if g := greeting(t, port); g != "hello from fdwire hello-handler\n" {
			t.Fatalf("connection %d got %q; portlisten: %s", i, g, pl.Stderr())
		}
	}
	if code := pl.wait(t); code != 0 {
		t.Fatalf("portlisten exit %d: %s", code, pl.Stderr())
	}
	if code := handler.wait(t); code != 0 {
		t.Fatalf("handler exit %d: %s", code, handler.Stderr())
	}
	fl, err := unix.FcntlInt(uintptr(ln), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		t.Fatalf("portlisten made the inherited listener's description O_NONBLOCK")
	}
	// Still usable by its owner: a blocking accept gets a connection.
	go func() {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second); err == nil {
			io.WriteString(c, "x")
			c.Close()
		}
	}()
	c, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(c)
}

// Connections reach the handler in the order they were accepted, also
// when the acceptor's own send would have to wait and the later ones go
// through the held list: a handler that does not read yet fills
// portlisten's socket, connections pile up in the held list, and once the
// handler reads, it sees every peer in connect order.
func TestToolPortlistenOrderThroughHeld(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	port := freePort(t)
	const n = 600
	script := filepath.Join(t.TempDir(), "slow-handler.lua")
	os.WriteFile(script, []byte(`
		local l = sock.listen_on(arg[1])
		local pc = sock.accept(l)
		fd.stdin:read(1) -- the test says when to start reading
		local out = {}
		for i = 1, tonumber(arg[2]) do
			local fds, data = sock.recvfds(pc, { max = 1 })
			out[#out + 1] = data:sub(#"fdwire-portlisten/1 connection " + 1)
			fds[1]:write("ok\n")
			fds[1]:close()
		end
		print(table.concat(out, "\n"))
		pc:close(); l:close()
	`), 0o644)
	h := fmt.Sprintf("@fdwire-order-h-%d", os.Getpid())
	var goAhead io.WriteCloser
	handler := toolStart(t, env, func(c *exec.Cmd) {
		w, err := c.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		goAhead = w
	}, script, h, fmt.Sprint(n))
	defer goAhead.Close()
	pl := toolStart(t, env, nil, "portlisten", "--count", fmt.Sprint(n), "--max-held", "1000", "--retry", "60",
		fmt.Sprintf("tcp:127.0.0.1:%d", port), h)
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	openFds := func() int {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pl.cmd.Process.Pid))
		return len(ents)
	}
	base := openFds()
	var order []string
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		order = append(order, "tcp:"+c.LocalAddr().String())
	}
	// Some connections must be waiting in the held list (open in
	// portlisten) before the handler reads anything.
	eventually(t, "connections held in portlisten", func() bool { return openFds() >= base+50 })
	io.WriteString(goAhead, "x")
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 3)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "ok\n" {
			t.Fatalf("connection %d: %q %v", i, b, err)
		}
	}
	if code := handler.wait(t); code != 0 {
		t.Fatalf("handler exit %d: %s", code, handler.Stderr())
	}
	if code := pl.wait(t); code != 0 {
		t.Fatalf("portlisten exit %d: %s", code, pl.Stderr())
	}
	got := strings.Split(strings.TrimSpace(handler.Stdout()), "\n")
	if len(got) != n {
		t.Fatalf("handler saw %d connections, want %d", len(got), n)
	}
	for i := range got {
		if got[i] != order[i] {
			t.Fatalf("connection %d reached the handler as %s, want %s (order lost)", i, got[i], order[i])
		}
	}
}

// inheritedListener is a blocking TCP listener on 127.0.0.1 made by the
// test, for portlisten to get as ADDR fd:3 (lf, closed at cleanup).
func inheritedListener(t *testing.T) (ln int, lf *os.File, port int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	lf = os.NewFile(uintptr(ln), "listener")
	t.Cleanup(func() { lf.Close() })
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 16); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	return ln, lf, sa.(*unix.SockaddrInet4).Port
}
