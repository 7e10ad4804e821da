package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// buildHellofdpass compiles tests/testdata/hellofdpass.c, a handler in
// seed 002's style, into a directory uid 65534 may read.
func buildHellofdpass(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc): the seed-style handler cannot be built")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "hellofdpass")
	if out, err := exec.Command(cc, "-O", "-Wall", "-o", bin, filepath.Join(repoRoot, "tests", "testdata", "hellofdpass.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	return bin
}

// nobodyDir is a fresh directory owned by uid 65534.
// nobodyScript copies scripts/NAME where uid 65534 can read it: the
// checkout itself may sit below a 0700 directory (mktemp -d, a home).
func nobodyScript(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(nobodyDir(t), name)
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func nobodyDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	os.Chmod(filepath.Dir(d), 0o755)
	os.Chown(d, 65534, 65534)
	return d
}

// The seed's C handler, unchanged in protocol, behind portlisten --dgram
// (root binds, drops to nobody; the handler runs as nobody too).
func TestToolPortlistenDgramSeedHandler(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	bin := buildHellofdpass(t)
	sockPath := filepath.Join(nobodyDir(t), "socket")
	handler := progStart(t, env, func(c *exec.Cmd) { c.Dir = "/" }, setprivNobody[0],
		append(append([]string{}, setprivNobody[1:]...), bin, sockPath, "hello, world\n", "2")...)
	eventually(t, "the C handler", func() bool { return strings.Contains(handler.Stdout(), "bound") })
	port := freePort(t)
	pl := toolStart(t, env, nil, "portlisten", "--dgram", "--count", "2", fmt.Sprintf("tcp:127.0.0.1:%d", port), sockPath)
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	for i := 0; i < 2; i++ {
		if g := greeting(t, port); g != "hello, world\n" {
			t.Fatalf("connection %d got %q; portlisten: %s; handler: %s", i, g, pl.Stderr(), handler.Stderr())
		}
	}
	if code := pl.wait(t); code != 0 {
		t.Fatalf("portlisten exit %d: %s", code, pl.Stderr())
	}
	if code := handler.wait(t); code != 0 {
		t.Fatalf("handler exit %d: %s", code, handler.Stderr())
	}
	// hello-handler.lua speaks the same datagrams.
	sockPath2 := filepath.Join(nobodyDir(t), "lua-socket")
	lh := nobodyStart(t, env, nobodyScript(t, "hello-handler.lua"), "--dgram", sockPath2, "1")
	eventually(t, "hello-handler", func() bool { return pathExists(sockPath2) })
	pl = toolStart(t, env, nil, "portlisten", "--dgram", "--count", "1", fmt.Sprintf("tcp:127.0.0.1:%d", port), sockPath2)
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	if g := greeting(t, port); g != "hello from fdwire hello-handler\n" {
		t.Fatalf("hello-handler --dgram: got %q; %s %s", g, pl.Stderr(), lh.Stderr())
	}
	pl.wait(t)
	if code := lh.wait(t); code != 0 {
		t.Fatalf("hello-handler exit %d: %s", code, lh.Stderr())
	}
}

// A handler of the wrong socket type is a configuration error at once,
// both ways; a handler run by an untrusted uid gets nothing (exit 7).
func TestToolPortlistenWrongTypeAndSquatter(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	bin := buildHellofdpass(t)
	sockPath := filepath.Join(nobodyDir(t), "socket")
	handler := progStart(t, env, func(c *exec.Cmd) { c.Dir = "/" }, setprivNobody[0],
		append(append([]string{}, setprivNobody[1:]...), bin, sockPath, "x", "1")...)
	eventually(t, "the C handler", func() bool { return strings.Contains(handler.Stdout(), "bound") })
	port := freePort(t)
	addr := fmt.Sprintf("tcp:127.0.0.1:%d", port)
	// stream protocol to a datagram handler
	pl := toolStart(t, env, nil, "portlisten", "--retry", "60", addr, sockPath)
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	greeting(t, port)
	if code := pl.wait(t); code != 1 || !strings.Contains(pl.Stderr(), "EPROTOTYPE") || !strings.Contains(pl.Stderr(), "needs --dgram") {
		t.Fatalf("stream to a datagram handler: exit %d %s", code, pl.Stderr())
	}
	// datagrams to a stream handler
	name := filepath.Join(nobodyDir(t), "stream")
	sh := nobodyStart(t, env, nobodyScript(t, "hello-handler.lua"), name, "1")
	eventually(t, "stream handler", func() bool { return pathExists(name) })
	r := toolRun(t, env, "", nil, "portlisten", "--dgram", "--pass", "listener", "--retry", "60", "tcp:127.0.0.1:0", name)
	if r.Code != 1 || !strings.Contains(r.Stderr, "EPROTOTYPE") || !strings.Contains(r.Stderr, "drop --dgram") {
		t.Fatalf("datagrams to a stream handler: %+v", r)
	}
	sh.cmd.Process.Kill()
	handler.cmd.Process.Kill()
	// uid 65534 holds the handler's name; portlisten runs as daemon.
	squat := fmt.Sprintf("@fdwire-plsquat-%d", os.Getpid())
	sq := nobodyStart(t, env, "-e", squatter, squat, "stream")
	eventually(t, "the squatter", func() bool { return strings.Contains(sq.Stdout(), "listening") })
	pl = toolStart(t, env, nil, "portlisten", "--user", "daemon", addr, squat)
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	greeting(t, port)
	if code := pl.wait(t); code != 7 || !strings.Contains(pl.Stderr(), "served by uid 65534") {
		t.Fatalf("portlisten to a squatter: exit %d %s", code, pl.Stderr())
	}
	if strings.Contains(sq.Stdout(), "got 1") {
		t.Errorf("the squatter got a connection: %s", sq.Stdout())
	}
	if r := toolRun(t, env, "", nil, "portlisten", "--dgram", "tcp:127.0.0.1:0", "@abstract"); r.Code != 1 || !strings.Contains(r.Stderr, "needs a socket path") {
		t.Errorf("--dgram to an abstract name: %+v", r)
	}
}
