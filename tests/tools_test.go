package tests

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// The tools (send, recv, activate, portlisten, hold) between real
// processes. Each test gets its own XDG_RUNTIME_DIR, so bare SOCKSPECs
// live in a fresh directory that must be empty again at the end.

// toolProc is a tool running in the background.
type toolProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *toolProc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *toolProc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// wait waits for the tool to exit and returns its status.
func (p *toolProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not exit; stderr:\n%s", p.cmd.Args, p.Stderr())
	}
	return p.code
}

// toolStart starts fdwire ARGS in the background with env added; the
// process is killed and reaped at cleanup if still running.
func toolStart(t *testing.T, env []string, adjust func(*exec.Cmd), args ...string) *toolProc {
	t.Helper()
	return progStart(t, env, adjust, fdwireBin, args...)
}

// setprivNobody is the command line prefix that runs a program as uid and
// gid 65534 with no supplementary groups.
var setprivNobody = []string{"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"}

// nobodyStart starts fdwire ARGS as uid 65534 through setpriv.
func nobodyStart(t *testing.T, env []string, args ...string) *toolProc {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is missing; .ci/run installs it")
	}
	asNobody(t) // opens the binary's directory
	return progStart(t, env, func(c *exec.Cmd) { c.Dir = "/" }, setprivNobody[0],
		append(append(append([]string{}, setprivNobody[1:]...), fdwireBin), args...)...)
}

// nobodyRun runs fdwire ARGS as uid 65534 through setpriv to the end.
func nobodyRun(t *testing.T, env []string, args ...string) Run {
	t.Helper()
	p := nobodyStart(t, env, args...)
	code := p.wait(t)
	return Run{Stdout: p.Stdout(), Stderr: p.Stderr(), Code: code}
}

// progStart starts PROG ARGS in the background (see toolStart).
func progStart(t *testing.T, env []string, adjust func(*exec.Cmd), prog string, args ...string) *toolProc {
	t.Helper()
	p := &toolProc{done: make(chan struct{})}
	p.cmd = exec.Command(prog, args...)
	p.cmd.Dir = repoRoot
	p.cmd.Env = append(append(os.Environ(), "FDWIRE="+fdwireBin), env...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if adjust != nil {
		adjust(p.cmd)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			// SIGTERM first: the tools remove their socket files then.
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
		}
	})
	return p
}

// toolRun runs fdwire ARGS to the end with env added and stdin fed.
func toolRun(t *testing.T, env []string, stdin string, adjust func(*exec.Cmd), args ...string) Run {
	t.Helper()
	return fdwireCmd(t, stdin, func(c *exec.Cmd) {
		c.Env = append(c.Env, env...)
		if adjust != nil {
			adjust(c)
		}
	}, args...)
}

// toolEnv gives a test its own runtime directory; at the end nothing may
// be left in it (no socket file).
func toolEnv(t *testing.T) (env []string, sockdir string) {
	t.Helper()
	xdg := t.TempDir()
	t.Cleanup(func() {
		entries, _ := os.ReadDir(filepath.Join(xdg, "fdwire"))
		for _, e := range entries {
			t.Errorf("left behind in the runtime directory: %s", e.Name())
		}
	})
	return []string{"XDG_RUNTIME_DIR=" + xdg}, filepath.Join(xdg, "fdwire")
}

// eventually polls cond (test-side only) until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func pathExists(p string) bool { _, err := os.Lstat(p); return err == nil }

// asNobody makes a command run as uid/gid 65534 from /; the binary's
// directory is opened up so that uid may run it.
func asNobody(t *testing.T) func(*exec.Cmd) {
	t.Helper()
	if err := os.Chmod(filepath.Dir(fdwireBin), 0o755); err != nil {
		t.Fatal(err)
	}
	return func(c *exec.Cmd) {
		c.Dir = "/"
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
}

func TestToolSendRecvAcceptance(t *testing.T) {
	leakcheck.Check(t)
	env, dir := toolEnv(t)
	recv := toolStart(t, env, nil, "recv", "-f", "0", "test", "--", "cat")
	sockPath := filepath.Join(dir, "test")
	eventually(t, "the recv socket", func() bool { return pathExists(sockPath) })
	// Directory 0700, socket 0600, both ours.
	for path, want := range map[string]os.FileMode{dir: 0o700, sockPath: 0o600} {
		st, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", path, st.Mode().Perm(), want)
		}
	}
	r := toolRun(t, env, "hello world\n", nil, "send", "-f", "0", "test")
	if r.Code != 0 {
		t.Fatalf("send: %+v", r)
	}
	if code := recv.wait(t); code != 0 || recv.Stdout() != "hello world\n" {
		t.Fatalf("recv exit %d stdout %q stderr %q", code, recv.Stdout(), recv.Stderr())
	}
	if pathExists(sockPath) {
		t.Error("socket file left behind")
	}
}

func TestToolSendRecvOrderAndStatus(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	os.WriteFile(one, []byte("one\n"), 0o644)
	os.WriteFile(two, []byte("two\n"), 0o644)
	recv := toolStart(t, env, nil, "recv", "-f", "3", "pair", "-f", "4", "pair", "--run",
		"sh", "-c", "cat <&3; cat <&4; exit 7")
	f1, _ := os.Open(one)
	f2, _ := os.Open(two)
	defer f1.Close()
	defer f2.Close()
	// The sender has one at 3 and two at 4 and sends 4 first.
	r := toolRun(t, env, "", func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f1, f2} },
		"send", "--blocking", "--fd", "4", "--fd=3", "pair")
	if r.Code != 0 {
		t.Fatalf("send: %+v", r)
	}
	if code := recv.wait(t); code != 7 || recv.Stdout() != "two\none\n" {
		t.Fatalf("recv exit %d (want 7) stdout %q stderr %q", code, recv.Stdout(), recv.Stderr())
	}
}

func TestToolSendNoReceiver(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	r := toolRun(t, env, "", nil, "send", "nobody-here")
	if r.Code != 3 || !strings.Contains(r.Stderr, "no receiver at") || !strings.Contains(r.Stderr, "--blocking") {
		t.Fatalf("no receiver: %+v", r)
	}
	r = toolRun(t, env, "", nil, "send", "--blocking", "--timeout", "0.3", "nobody-here")
	if r.Code != 3 || !strings.Contains(r.Stderr, "within 0.3 s") {
		t.Fatalf("no receiver within the timeout: %+v", r)
	}
	r = toolRun(t, env, "", nil, "send", "-b", "-t", "0.3", "--abstract", "nobody-here")
	if r.Code != 3 || !strings.Contains(r.Stderr, "@nobody-here") {
		t.Fatalf("abstract, no receiver: %+v", r)
	}
	r = toolRun(t, env, "", nil, "send", "-f", "9", "x")
	if r.Code != 1 || !strings.Contains(r.Stderr, "descriptor 9 is not open") {
		t.Fatalf("closed fd: %+v", r)
	}
	r = toolRun(t, env, "", nil, "send", "tcp:127.0.0.1:1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "unix sockets only") {
		t.Fatalf("tcp sockspec: %+v", r)
	}
}

// A sender that starts first waits for the receiver: inotify for a path
// (also when the runtime directory does not exist yet), backoff for @name.
func TestToolSendBlockingWaitsForReceiver(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	for _, abstract := range []bool{false, true} {
		name := fmt.Sprintf("late-%d", os.Getpid())
		flag := []string{}
		if abstract {
			flag = []string{"--abstract"}
		}
		send := toolStart(t, env, func(c *exec.Cmd) { c.Stdin = strings.NewReader("late\n") },
			append(append([]string{"send", "--blocking", "--timeout", "20"}, flag...), name)...)
		time.Sleep(200 * time.Millisecond) // let it start waiting (correct either way)
		r := toolRun(t, env, "", nil, append(append([]string{"recv", "--timeout", "20"}, flag...), "--stdin", name, "--", "cat")...)
		if r.Code != 0 || r.Stdout != "late\n" {
			t.Fatalf("abstract=%v recv: %+v; send stderr %s", abstract, r, send.Stderr())
		}
		if code := send.wait(t); code != 0 {
			t.Fatalf("abstract=%v send exit %d: %s", abstract, code, send.Stderr())
		}
	}
}

func TestToolRecvRefusesOtherUid(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-refuse-%d", os.Getpid())
	recv := toolStart(t, env, nil, "recv", "--timeout", "20", "--stdin", name, "--", "cat")
	r := toolRun(t, env, "from nobody\n", asNobody(t), "send", "--blocking", "--timeout", "10", name)
	if r.Code != 4 || !strings.Contains(r.Stderr, "refused: uid 65534 is not allowed") {
		t.Fatalf("send as nobody: %+v", r)
	}
	if !regexp.MustCompile(`refused sender pid \d+ uid 65534`).MatchString(recv.Stderr()) {
		t.Errorf("recv did not log the refusal: %s", recv.Stderr())
	}
	// recv keeps waiting, and takes an allowed sender.
	if r := toolRun(t, env, "from root\n", nil, "send", name); r.Code != 0 {
		t.Fatalf("send as root: %+v", r)
	}
	if code := recv.wait(t); code != 0 || recv.Stdout() != "from root\n" {
		t.Fatalf("recv exit %d stdout %q", code, recv.Stdout())
	}
	// --allow-uid widens the check.
	recv = toolStart(t, env, nil, "recv", "--allow-uid", "65534", "--stdin", name, "--", "cat")
	r = toolRun(t, env, "from nobody\n", asNobody(t), "send", "--blocking", "--timeout", "10", name)
	if r.Code != 0 {
		t.Fatalf("allowed nobody: %+v", r)
	}
	if code := recv.wait(t); code != 0 || recv.Stdout() != "from nobody\n" {
		t.Fatalf("recv exit %d stdout %q", code, recv.Stdout())
	}
}

func TestToolRecvErrors(t *testing.T) {
	leakcheck.Check(t)
	env, dir := toolEnv(t)
	r := toolRun(t, env, "", nil, "recv", "--timeout", "0.3", "-f", "0", "never", "--", "cat")
	if r.Code != 124 || !strings.Contains(r.Stderr, "no sender within 0.3 s on "+filepath.Join(dir, "never")) {
		t.Fatalf("timeout: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "recv", "-f", "0", "x"); r.Code != 2 || !strings.Contains(r.Stderr, "missing COMMAND") {
		t.Fatalf("no command: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "recv", "--", "cat"); r.Code != 2 {
		t.Fatalf("nothing to receive: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "recv", "--bogus"); r.Code != 2 || !strings.Contains(r.Stderr, "unknown option --bogus") {
		t.Fatalf("bad option: %+v", r)
	}
	// COMMAND not found: 127.
	recv := toolStart(t, env, nil, "recv", "-f", "0", "nf", "--", "/nonexistent/cmd")
	eventually(t, "socket", func() bool { return pathExists(filepath.Join(dir, "nf")) })
	if r := toolRun(t, env, "x", nil, "send", "nf"); r.Code != 0 {
		t.Fatalf("send: %+v", r)
	}
	if code := recv.wait(t); code != 127 {
		t.Fatalf("command not found: exit %d, stderr %s", code, recv.Stderr())
	}
	// A live socket is not taken over.
	recv = toolStart(t, env, nil, "recv", "-f", "0", "busy", "--", "cat")
	eventually(t, "socket", func() bool { return pathExists(filepath.Join(dir, "busy")) })
	r = toolRun(t, env, "", nil, "recv", "-f", "0", "busy", "--", "cat")
	if r.Code != 125 || !strings.Contains(r.Stderr, "EADDRINUSE") {
		t.Fatalf("socket in use: %+v", r)
	}
	toolRun(t, env, "", nil, "send", "busy")
	recv.wait(t)
}

func TestToolRuntimeDirModes(t *testing.T) {
	leakcheck.Check(t)
	xdg := t.TempDir()
	env := []string{"XDG_RUNTIME_DIR=" + xdg}
	dir := filepath.Join(xdg, "fdwire")
	os.Mkdir(dir, 0o755)
	r := toolRun(t, env, "", nil, "recv", "-t", "1", "-f", "0", "x", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "has mode 0755") || !strings.Contains(r.Stderr, "chmod 700") {
		t.Fatalf("open directory: %+v", r)
	}
	os.Chmod(dir, 0o700)
	os.Chown(dir, 65534, 65534)
	r = toolRun(t, env, "", nil, "send", "x")
	if r.Code != 1 || !strings.Contains(r.Stderr, "belongs to uid 65534") {
		t.Fatalf("foreign directory: %+v", r)
	}
	os.Remove(dir)
	os.WriteFile(dir, nil, 0o600)
	r = toolRun(t, env, "", nil, "send", "x")
	if r.Code != 1 || !strings.Contains(r.Stderr, "not a directory") {
		t.Fatalf("file instead of directory: %+v", r)
	}
}

func TestToolSendFromAnotherProcess(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	os.WriteFile(data, []byte("0123456789"), 0o644)
	f, _ := os.Open(data)
	defer f.Close()
	f.Seek(4, io.SeekStart) // the holder's offset: dup shares it, reopen does not
	holder := exec.Command("sleep", "30")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	pid := fmt.Sprint(holder.Process.Pid)
	for _, c := range []struct {
		mode []string
		want string
	}{{nil, "0123456789"}, {[]string{"--dup"}, "456789"}} {
		recv := toolStart(t, env, nil, "recv", "--stdin", "stolen", "--", "cat")
		r := toolRun(t, env, "", nil, append(append([]string{"send", "-b", "--pid", pid, "-f", "3"}, c.mode...), "stolen")...)
		if r.Code != 0 {
			t.Fatalf("send --pid %v: %+v", c.mode, r)
		}
		if code := recv.wait(t); code != 0 || recv.Stdout() != c.want {
			t.Fatalf("send --pid %v: recv exit %d got %q want %q", c.mode, code, recv.Stdout(), c.want)
		}
	}
	if r := toolRun(t, env, "", nil, "send", "--dup", "x"); r.Code != 2 {
		t.Fatalf("--dup without --pid: %+v", r)
	}
}

func TestToolHold(t *testing.T) {
	leakcheck.Check(t)
	env, dir := toolEnv(t)
	hold := toolStart(t, env, nil, "hold", "h1")
	hold2 := toolStart(t, env, nil, "hold", "h2")
	for _, n := range []string{"h1", "h2"} {
		eventually(t, n, func() bool { return pathExists(filepath.Join(dir, n)) })
	}
	if st, _ := os.Lstat(filepath.Join(dir, "h1")); st.Mode().Perm() != 0o600 {
		t.Errorf("holder socket mode %o", st.Mode().Perm())
	}
	data := filepath.Join(t.TempDir(), "data")
	os.WriteFile(data, []byte("held data\n"), 0o644)
	f, _ := os.Open(data)
	defer f.Close()
	withFile := func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f} }
	if r := toolRun(t, env, "", withFile, "hold-store", "-f", "3", "h1", "app/data"); r.Code != 0 {
		t.Fatalf("store: %+v", r)
	}
	if r := toolRun(t, env, "", withFile, "hold-store", "-f", "3", "--expire", "0.2", "h1", "app/brief"); r.Code != 0 {
		t.Fatalf("store with expiry: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-list", "h1"); r.Code != 0 || r.Stdout != "app/brief\napp/data\n" {
		t.Fatalf("list: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-retrieve", "h1", "app/data", "--", "cat"); r.Code != 0 || r.Stdout != "held data\n" {
		t.Fatalf("retrieve: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-retrieve", "-f", "5", "h1", "app/data", "--", "sh", "-c", "cat <&5; exit 3"); r.Code != 3 {
		t.Fatalf("retrieve at 5, status: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-retrieve", "h1", "nope", "--", "cat"); r.Code != 5 || !strings.Contains(r.Stderr, `nothing is held under "nope"`) {
		t.Fatalf("unknown id: %+v", r)
	}
	eventually(t, "expiry", func() bool {
		return toolRun(t, env, "", nil, "hold-list", "h1").Stdout == "app/data\n"
	})
	if r := toolRun(t, env, "", nil, "hold-retrieve", "h1", "app/brief", "--", "cat"); r.Code != 6 || !strings.Contains(r.Stderr, "EKEYEXPIRED") {
		t.Fatalf("expired id: %+v", r)
	}
	long := strings.Repeat("x", 256)
	if r := toolRun(t, env, "", nil, "hold-delete", "h1", long); r.Code != 1 || !strings.Contains(r.Stderr, "1 to 255 bytes") {
		t.Fatalf("long id: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-transfer", "h1", "h2"); r.Code != 0 || r.Stdout != "1\n" {
		t.Fatalf("transfer: %+v", r)
	}
	// Again: h2 holds app/data now, so only --replace may overwrite it.
	if r := toolRun(t, env, "", nil, "hold-transfer", "h1", "h2"); r.Code != 1 || !strings.Contains(r.Stderr, "EBUSY") {
		t.Fatalf("transfer onto a held id: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-transfer", "--replace", "h1", "h2"); r.Code != 0 || r.Stdout != "1\n" {
		t.Fatalf("transfer --replace: %+v", r)
	}
	// The same open file description travelled all the way (its offset is
	// at the end now, after the cats above): readlink shows the file.
	if r := toolRun(t, env, "", nil, "hold-retrieve", "--delete", "h2", "app/data", "--", "readlink", "/proc/self/fd/0"); r.Code != 0 || r.Stdout != data+"\n" {
		t.Fatalf("retrieve transferred: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-list", "h2"); r.Code != 0 || r.Stdout != "" {
		t.Fatalf("list after delete: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-delete", "h1", "app/data"); r.Code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-list", "nohold"); r.Code != 3 || !strings.Contains(r.Stderr, "no holder at") {
		t.Fatalf("no holder: %+v", r)
	}
	hold.cmd.Process.Signal(syscall.SIGTERM)
	hold2.cmd.Process.Signal(syscall.SIGTERM)
	if code := hold.wait(t); code != 143 {
		t.Errorf("hold after SIGTERM: exit %d, stderr %s", code, hold.Stderr())
	}
	hold2.wait(t)
}

func TestToolHoldRules(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	rules := filepath.Join(t.TempDir(), "rules")
	os.WriteFile(rules, []byte(`# test rules
allow uid:0      *         *
allow uid:65534  retrieve,list  public/*
deny  *          *         *
`), 0o644)
	name := fmt.Sprintf("@fdwire-holdrules-%d", os.Getpid())
	hold := toolStart(t, env, nil, "hold", "--rules", rules, name)
	f, _ := os.Open("/dev/null")
	defer f.Close()
	withFile := func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f} }
	for _, id := range []string{"public/a", "secret/b"} {
		if r := toolRun(t, env, "", withFile, "hold-store", "--wait", "-f", "3", name, id); r.Code != 0 {
			t.Fatalf("store %s: %+v", id, r)
		}
	}
	nobody := asNobody(t)
	if r := toolRun(t, env, "", nobody, "hold-list", name); r.Code != 0 || r.Stdout != "public/a\n" {
		t.Fatalf("nobody's list: %+v", r)
	}
	if r := toolRun(t, env, "", nobody, "hold-retrieve", name, "public/a", "--", "true"); r.Code != 0 {
		t.Fatalf("nobody retrieves public/a: %+v", r)
	}
	r := toolRun(t, env, "", nobody, "hold-retrieve", name, "secret/b", "--", "true")
	if r.Code != 4 || !strings.Contains(r.Stderr, "EACCES") || !strings.Contains(r.Stderr, "uid 65534") {
		t.Fatalf("nobody retrieves secret/b: %+v", r)
	}
	if r := toolRun(t, env, "", nobody, "hold-delete", name, "public/a"); r.Code != 4 {
		t.Fatalf("nobody deletes: %+v", r)
	}
	if !strings.Contains(hold.Stderr(), `denied retrieve "secret/b"`) {
		t.Errorf("denial not logged: %s", hold.Stderr())
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("allow uid:0 *\n"), 0o644)
	if r := toolRun(t, env, "", nil, "hold", "--rules", bad, "@x"); r.Code != 1 || !strings.Contains(r.Stderr, bad+":1:") {
		t.Fatalf("bad rules: %+v", r)
	}
}

// freePort finds a free tcp port on 127.0.0.1 (the kernel's choice).
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func greeting(t *testing.T, port int) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

// Root binds a port below 1024, drops to nobody, and a connection made
// while no handler listens is held and delivered once one appears.
func TestToolPortlistenHandlerAbsentThenAppears(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	var pl *toolProc
	port := 0
	for p := 600 + os.Getpid()%300; p < 1024; p++ {
		pl = toolStart(t, env, nil, "portlisten", "--count", "2", "--retry", "20", fmt.Sprintf("tcp:127.0.0.1:%d", p), fmt.Sprintf("@fdwire-pl-%d", os.Getpid()))
		eventually(t, "portlisten to bind or fail", func() bool {
			return strings.Contains(pl.Stderr(), "listening on") || strings.Contains(pl.Stderr(), "EADDRINUSE")
		})
		if strings.Contains(pl.Stderr(), "listening on") {
			port = p
			break
		}
		pl.wait(t)
	}
	if !strings.Contains(pl.Stderr(), "as nobody (uid 65534)") {
		t.Fatalf("no privilege drop logged: %s", pl.Stderr())
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pl.cmd.Process.Pid))
	if !regexp.MustCompile(`(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$`).Match(status) {
		t.Errorf("portlisten still has other uids:\n%s", status)
	}
	got := make(chan string, 1)
	go func() { got <- greeting(t, port) }()
	eventually(t, "portlisten to hold the connection", func() bool {
		return strings.Contains(pl.Stderr(), "holding and retrying")
	})
	handler := toolStart(t, env, nil, "scripts/hello-handler.lua", fmt.Sprintf("@fdwire-pl-%d", os.Getpid()), "2")
	if g := <-got; g != "hello from fdwire hello-handler\n" {
		t.Fatalf("held connection got %q; portlisten: %s", g, pl.Stderr())
	}
	if g := greeting(t, port); g != "hello from fdwire hello-handler\n" {
		t.Fatalf("second connection got %q", g)
	}
	if code := pl.wait(t); code != 0 {
		t.Fatalf("portlisten exit %d: %s", code, pl.Stderr())
	}
	if code := handler.wait(t); code != 0 {
		t.Fatalf("handler exit %d: %s", code, handler.Stderr())
	}
}

func TestToolPortlistenNoHandler(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	port := freePort(t)
	pl := toolStart(t, env, nil, "portlisten", "--count", "1", "--retry", "0.3", "--user", "65534",
		fmt.Sprintf("tcp:127.0.0.1:%d", port), "@fdwire-absent-handler")
	eventually(t, "bind", func() bool { return strings.Contains(pl.Stderr(), "listening on") })
	if g := greeting(t, port); g != "" {
		t.Fatalf("got %q from a connection nobody handles", g)
	}
	if code := pl.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, pl.Stderr())
	}
	if !regexp.MustCompile(`closed connection from tcp:127\.0\.0\.1:\d+: no handler at @fdwire-absent-handler for 0\.3 s`).MatchString(pl.Stderr()) {
		t.Errorf("closing not logged: %s", pl.Stderr())
	}
	r := toolRun(t, env, "", nil, "portlisten", "--pass", "listener", "--retry", "0.3", "tcp:127.0.0.1:0", "@fdwire-absent-handler")
	if r.Code != 3 || !strings.Contains(r.Stderr, "no handler at @fdwire-absent-handler within 0.3 s") {
		t.Fatalf("listener, no handler: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "portlisten", "--pass", "both", "tcp:127.0.0.1:0", "@x"); r.Code != 2 {
		t.Fatalf("bad --pass: %+v", r)
	}
}

func TestToolPortlistenPassListener(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	port := freePort(t)
	h := fmt.Sprintf("@fdwire-plh-%d", os.Getpid())
	handler := toolStart(t, env, nil, "scripts/hello-handler.lua", h, "1")
	r := toolRun(t, env, "", nil, "portlisten", "--pass", "listener", "--retry", "10", fmt.Sprintf("tcp:127.0.0.1:%d", port), h)
	if r.Code != 0 {
		t.Fatalf("portlisten: %+v", r)
	}
	// portlisten is gone; the handler accepts on the listener itself.
	if g := greeting(t, port); g != "hello from fdwire hello-handler\n" {
		t.Fatalf("got %q", g)
	}
	if code := handler.wait(t); code != 0 {
		t.Fatalf("handler exit %d: %s", code, handler.Stderr())
	}
}

func TestToolActivate(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	port := freePort(t)
	// --now: the sockets at 3..., LISTEN_* set, LISTEN_PID the command's own pid.
	sockPath := filepath.Join(t.TempDir(), "act.sock")
	r := toolRun(t, env, "", nil, "activate", "--now", "-l", fmt.Sprint(port), "-l", sockPath,
		"--fdname", "web:ctl", "-E", "FOO=bar", "-E", "HOME", "--",
		"/bin/sh", "-c", `echo "$LISTEN_FDS $LISTEN_FDNAMES $FOO $HOME"; [ "$LISTEN_PID" = $$ ] && echo pid-ok; [ -S /proc/self/fd/4 ] || test -e /proc/self/fd/4 && echo fd4; exit 5`)
	if r.Code != 5 || !strings.HasPrefix(r.Stdout, "2 web:ctl bar "+os.Getenv("HOME")+"\npid-ok\nfd4\n") {
		t.Fatalf("activate --now: %+v", r)
	}
	if pathExists(sockPath) {
		t.Error("activate left its socket file")
	}
	// Without --now it starts COMMAND at the first connection, which
	// COMMAND accepts itself.
	act := toolStart(t, env, nil, "activate", "-l", fmt.Sprintf("127.0.0.1:%d", port), "--",
		"python3", "-c", "import socket; s = socket.socket(fileno=3); c, _ = s.accept(); c.sendall(b'activated\\n')")
	eventually(t, "listen", func() bool { return strings.Contains(act.Stderr(), "listening on") })
	if g := greeting(t, port); g != "activated\n" {
		t.Fatalf("got %q; %s", g, act.Stderr())
	}
	if code := act.wait(t); code != 0 {
		t.Fatalf("activate exit %d: %s", code, act.Stderr())
	}
	// --accept --inetd: one COMMAND per connection on stdin/stdout.
	act = toolStart(t, env, nil, "activate", "--accept", "--inetd", "--count", "2", "-l", fmt.Sprintf("127.0.0.1:%d", port), "--",
		"/bin/sh", "-c", "echo conn $LISTEN_FDS")
	eventually(t, "listen", func() bool { return strings.Contains(act.Stderr(), "listening on") })
	for i := 0; i < 2; i++ {
		if g := greeting(t, port); g != "conn\n" {
			t.Fatalf("inetd connection %d got %q", i, g)
		}
	}
	if code := act.wait(t); code != 0 {
		t.Fatalf("activate --accept exit %d: %s", code, act.Stderr())
	}
	// --accept: the connection at fd 3.
	act = toolStart(t, env, nil, "activate", "-a", "-c", "1", "-l", fmt.Sprintf("127.0.0.1:%d", port), "--",
		"/bin/sh", "-c", `echo "$LISTEN_FDS $LISTEN_FDNAMES" >&3`)
	eventually(t, "listen", func() bool { return strings.Contains(act.Stderr(), "listening on") })
	if g := greeting(t, port); g != "1 connection\n" {
		t.Fatalf("accept connection got %q", g)
	}
	if code := act.wait(t); code != 0 {
		t.Fatalf("activate -a exit %d: %s", code, act.Stderr())
	}
	if r := toolRun(t, env, "", nil, "activate", "--datagram", "--accept", "-l", "1", "--", "true"); r.Code != 2 {
		t.Fatalf("--datagram --accept: %+v", r)
	}
}

// Every tool has --help with its exit statuses, and docs/tools.md
// mentions every long option the help lists.
func TestToolHelpMatchesDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "tools.md"))
	if err != nil {
		t.Fatal(err)
	}
	long := regexp.MustCompile(`--[a-z][a-z-]+`)
	for _, tool := range []string{"send", "recv", "activate", "portlisten", "hold", "hold-store", "hold-retrieve", "hold-list", "hold-delete", "hold-transfer"} {
		r := fdwire(t, "", tool, "--help")
		if r.Code != 0 || !strings.Contains(r.Stdout, "usage: fdwire "+tool) || !strings.Contains(r.Stdout, "exit status:") {
			t.Errorf("%s --help: %+v", tool, r)
			continue
		}
		for _, code := range []string{"130", "143"} {
			if !regexp.MustCompile(`(?m)^  ` + code + ` `).MatchString(r.Stdout) {
				t.Errorf("%s --help does not list exit status %s", tool, code)
			}
		}
		for _, opt := range long.FindAllString(r.Stdout, -1) {
			if !bytes.Contains(doc, []byte(opt)) {
				t.Errorf("%s --help lists %s, which docs/tools.md does not mention", tool, opt)
			}
		}
		if r := fdwire(t, "", tool, "--no-such-option"); r.Code != 2 || !strings.Contains(r.Stderr, "unknown option") {
			t.Errorf("%s with a bad option: %+v", tool, r)
		}
	}
}
