package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// squatter listens on an abstract name as uid 65534 and reports what
// each client sent it ("got N fds"), answering "ok" as a receiver would.
const squatter = `
local l = sock.listen_on(arg[1], { type = arg[2] })
print("listening")
io.stdout:flush()
while true do
	local c = sock.accept(l)
	local ok, fds, data = pcall(sock.recvfds, c, { max = 253, timeout = 5 })
	print("got " .. (ok and #fds or 0) .. " fds " .. (ok and data and #data or 0) .. " bytes")
	io.stdout:flush()
	if ok then for _, h in ipairs(fds) do h:close() end end
	pcall(sock.sendfds, c, {}, arg[2] == "seqpacket" and "ok" or "ok\n")
	c:close()
end
`

// Another uid binds the abstract name first: send and the holder
// clients check SO_PEERCRED and send nothing (exit 7) unless told to
// trust that uid.
func TestToolClientsRefuseSquatter(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("secret\n"), 0o600)
	f, _ := os.Open(secret)
	defer f.Close()
	withFile := func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f} }
	for _, c := range []struct {
		typ  string
		args []string
	}{
		{"stream", []string{"send", "-f", "3"}},
		{"seqpacket", []string{"hold-store", "-f", "3"}},
		{"seqpacket", []string{"hold-list"}},
	} {
		name := fmt.Sprintf("@fdwire-squat-%d-%s", os.Getpid(), c.args[0])
		sq := nobodyStart(t, env, "-e", squatter, name, c.typ)
		eventually(t, "the squatter", func() bool { return strings.Contains(sq.Stdout(), "listening") })
		argv := append(append([]string{}, c.args...), name)
		if c.args[0] == "hold-store" {
			argv = append(argv, "id")
		}
		r := toolRun(t, env, "", withFile, argv...)
		if r.Code != 7 || !strings.Contains(r.Stderr, "served by uid 65534") || !strings.Contains(r.Stderr, "nothing sent") {
			t.Errorf("%v to a squatter: %+v", c.args, r)
		}
		if c.args[0] == "send" {
			// Trusted on purpose: now it is sent.
			trusted := append([]string{"send", "-f", "3", "--allow-server-uid", "65534"}, name)
			if r := toolRun(t, env, "", withFile, trusted...); r.Code != 0 {
				t.Errorf("send --allow-server-uid 65534: %+v", r)
			}
			eventually(t, "the trusted send", func() bool { return strings.Contains(sq.Stdout(), "got 1 fds") })
		}
		sq.cmd.Process.Kill()
		sq.wait(t)
		if regexp.MustCompile(`got [1-9]\d* fds|[1-9]\d* bytes`).MatchString(strings.SplitN(sq.Stdout(), "got 1 fds", 2)[0]) {
			t.Errorf("%v: the squatter was sent something before trust: %s", c.args, sq.Stdout())
		}
	}
}

// The util-linux proposal's demo typed on one line: the sender may start
// before the receiver listens. 100 times in a row.
func TestToolSendRecvDemoOneLine(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	script := `for i in $(seq 100); do
	out=$("$FDWIRE" recv -f 0 test -- cat & echo hello world | "$FDWIRE" send -f 0 test; wait)
	[ "$out" = "hello world" ] || { echo "run $i: got '$out'"; exit 1; }
done
echo ok`
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(append(os.Environ(), "FDWIRE="+fdwireBin), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("%v: %s", err, out)
	}
}

// The proposal's command lines: comma lists, --pidfd-getfd, prefixes,
// --run; a second recv on a busy name is refused and not logged by the
// first as a malformed sender.
func TestToolSendRecvProposalForms(t *testing.T) {
	leakcheck.Check(t)
	env, dir := toolEnv(t)
	recv := toolStart(t, env, nil, "recv", "--fd", "0,1,2", "pipe_test", "--run", "sh", "-c", "cat; echo out; echo err >&2")
	eventually(t, "socket", func() bool { return pathExists(filepath.Join(dir, "pipe_test")) })
	second := toolRun(t, env, "", nil, "recv", "-f", "0", "pipe_test", "cat")
	if second.Code != 125 || !strings.Contains(second.Stderr, "EADDRINUSE") {
		t.Fatalf("second recv: %+v", second)
	}
	outF := filepath.Join(t.TempDir(), "out")
	o, _ := os.Create(outF)
	defer o.Close()
	r := toolRun(t, env, "in\n", func(c *exec.Cmd) { c.Stdout, c.Stderr = o, o }, "send", "--block", "--fd", "0,1,2", "pipe_test")
	if r.Code != 0 {
		t.Fatalf("send --block --fd 0,1,2: %+v", r)
	}
	if code := recv.wait(t); code != 0 {
		t.Fatalf("recv: %d %s", code, recv.Stderr())
	}
	got, _ := os.ReadFile(outF)
	if string(got) != "in\nout\nerr\n" {
		t.Errorf("the sender's stdio got %q", got)
	}
	if strings.Contains(recv.Stderr(), "malformed") {
		t.Errorf("the second recv showed in the first one's log: %s", recv.Stderr())
	}
	// -f 0 --run: --run is not a SOCKSPEC.
	if r := toolRun(t, env, "", nil, "recv", "-f", "0", "--run", "--", "cat"); r.Code != 2 || !strings.Contains(r.Stderr, "needs N SOCKSPEC before --run") {
		t.Errorf("recv -f 0 --run: %+v", r)
	}
	// Ambiguous and misspelt options.
	if r := toolRun(t, env, "", nil, "send", "--blokcing", "x"); r.Code != 2 || !strings.Contains(r.Stderr, "did you mean --blocking") {
		t.Errorf("misspelt option: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "send", "--pid", "1", "--pidfd-getfd", "--a", "x"); r.Code != 2 || !strings.Contains(r.Stderr, "ambiguous") {
		t.Errorf("ambiguous prefix: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "send", "--fd", "0,,1", "x"); r.Code != 2 {
		t.Errorf("empty list item: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "send", "--fd", "1e0", "--timeout", "-1", "x"); r.Code != 2 || !strings.Contains(r.Stderr, "non-negative") {
		t.Errorf("negative timeout: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "send", "--fd", "2147483648", "x"); r.Code != 2 || !strings.Contains(r.Stderr, "must be from 0 to 2147483647") {
		t.Errorf("fd out of range: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "send", "--pid", "12:ab", "x"); r.Code != 2 || !strings.Contains(r.Stderr, "PID:INODE") {
		t.Errorf("bad PID:INODE: %+v", r)
	}
}

// fdwire help CMD is CMD --help; a misspelt command gets a suggestion.
func TestToolHelpAndDidYouMean(t *testing.T) {
	for _, tool := range []string{"send", "recv", "hold", "activate", "portlisten"} {
		h, d := fdwire(t, "", "help", tool), fdwire(t, "", tool, "--help")
		if h.Code != 0 || h.Stdout != d.Stdout {
			t.Errorf("fdwire help %s differs from %s --help: %+v", tool, tool, h)
		}
	}
	if r := fdwire(t, "", "recieve"); r.Code != 2 || !strings.Contains(r.Stderr, `did you mean "recv"?`) {
		t.Errorf("fdwire recieve: %+v", r)
	}
	if r := fdwire(t, "", "help", "portlistn"); r.Code != 2 || !strings.Contains(r.Stderr, `did you mean "portlisten"?`) {
		t.Errorf("fdwire help portlistn: %+v", r)
	}
	if r := fdwire(t, "", "send", "--timout", "1", "x"); r.Code != 2 || !strings.Contains(r.Stderr, "did you mean --timeout?") {
		t.Errorf("misspelt option: %+v", r)
	}
}

// --pid PID:INODE: the pidfd inode must match, before and after.
func TestToolSendPidInode(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	os.WriteFile(data, []byte("by inode\n"), 0o644)
	f, _ := os.Open(data)
	defer f.Close()
	target := exec.Command("sleep", "30")
	target.ExtraFiles = []*os.File{f}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Process.Kill(); target.Wait() })
	pfd, err := unix.PidfdOpen(target.Process.Pid, 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	var st unix.Stat_t
	unix.Fstat(pfd, &st)
	unix.Close(pfd)
	spec := fmt.Sprintf("%d:%d", target.Process.Pid, st.Ino)
	recv := toolStart(t, env, nil, "recv", "--stdin", "byino", "cat")
	if r := toolRun(t, env, "", nil, "send", "-b", "--pid", spec, "-f", "3", "byino"); r.Code != 0 {
		t.Fatalf("send --pid %s: %+v", spec, r)
	}
	if code := recv.wait(t); code != 0 || recv.Stdout() != "by inode\n" {
		t.Fatalf("recv: %d %q", code, recv.Stdout())
	}
	wrong := fmt.Sprintf("%d:%d", target.Process.Pid, st.Ino+1)
	if r := toolRun(t, env, "", nil, "send", "--pid", wrong, "-f", "3", "byino"); r.Code != 1 || !strings.Contains(r.Stderr, "not the process meant") {
		t.Fatalf("send --pid %s: %+v", wrong, r)
	}
}
