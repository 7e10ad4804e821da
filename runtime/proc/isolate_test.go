package proc_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/ns"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/sock"
	"github.com/fdwire/fdwire/runtime/sys"
)

// runIsolated spawns the test binary as helper with spec and returns its
// report as a map.
func runIsolated(t *testing.T, mode string, spec *ns.Spec, env ...string) (map[string]string, error) {
	t.Helper()
	return runIsolatedFds(t, mode, spec, nil, env...)
}

func runIsolatedFds(t *testing.T, mode string, spec *ns.Spec, extra map[int]*fdio.FD, env ...string) (map[string]string, error) {
	t.Helper()
	self, err := fdio.OpenFile(nsHelper(t), unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if spec.Exe == nil {
		spec.Exe = self
	}
	r, w, err := fdio.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fds := map[int]*fdio.FD{1: w}
	for k, v := range extra {
		fds[k] = v
	}
	p, err := owner.Spawn(proc.Attr{
		Argv:    []string{"helper", mode},
		Env:     env,
		Fds:     fds,
		Stdio:   [3]proc.Stdio{proc.StdioClose, proc.StdioInherit, proc.StdioInherit},
		Isolate: spec,
	})
	w.Close()
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// A bounded wait: a hang reports where the child sleeps (this
		// test once hung only when run beside other suites). sys.Poll
		// returns 0 for EINTR too (Go preempts threads with SIGURG), so
		// only the deadline says the child went quiet.
		pfd := []unix.PollFd{{Fd: int32(r.Raw()), Events: unix.POLLIN}}
		if n, _ := sys.Poll(pfd, int(time.Until(deadline).Milliseconds())+1); n == 0 {
			if time.Now().Before(deadline) {
				continue
			}
			state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid))
			wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", p.Pid))
			stack, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stack", p.Pid))
			p.Kill(unix.SIGKILL)
			p.Wait(0)
			t.Fatalf("helper %d sent no report for 60 s; output so far:\n%s\nwchan %s\n%s\n%s", p.Pid, out, wchan, stack, state)
		}
		n, err := sys.Read(r.Raw(), buf)
		if n <= 0 || err != nil {
			break
		}
		out = append(out, buf[:n]...)
	}
	st, err := p.Wait(0)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exited || st.Code != 0 {
		t.Fatalf("helper ended with %v; output:\n%s", st, out)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, " ")
		m[k] = v
	}
	return m, nil
}

func sealedDir(t *testing.T) *fdio.FD {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("hello from the handle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	d, err := fdio.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestSealedChild: a child in new user, mount, net, pid, ipc and uts
// namespaces with a root made only of one read-only directory handle,
// run from a program handle: it holds only its map, sees no /proc, no
// network, cannot leave the bound directory, and has no_new_privs.
func TestSealedChild(t *testing.T) {
	d := sealedDir(t)
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(l, 1)
	sa, _ := unix.Getsockname(l)
	port := sa.(*unix.SockaddrInet4).Port
	leakcheck.Check(t)
	al, h, err := sock.BindAnon(sock.AnonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	defer h.Close()
	c, cli, err := sock.NewConnector(h, addr.Addr{}, sock.ConnectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer cli.Close()
	// The child makes 1,000 connections through the connector; then the
	// listener is closed and, told through a pipe at fd 4, it asks once
	// more and must get ECONNREFUSED.
	const times = 1000
	goR, goW, err := fdio.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer goW.Close()
	accepted := make(chan error, 1)
	go func() {
		buf := make([]byte, 2)
		for i := 0; i < times; {
			if _, err := sys.Poll([]unix.PollFd{{Fd: int32(al.Raw()), Events: unix.POLLIN}}, -1); err != nil {
				accepted <- err
				return
			}
			a, err := sock.TryAccept(al)
			if fdio.IsAgain(err) {
				// sys.Poll reports EINTR (Go's preemption signal) as 0
				// ready: nothing to accept yet. Ending here left the child
				// waiting for a go-ahead that never came (the hang seen
				// under -race and load).
				continue
			}
			if err != nil {
				accepted <- err
				return
			}
			i++
			n, _ := sys.Read(a.Raw(), buf)
			a.Close()
			if n != 2 || string(buf) != "hi" {
				accepted <- fmt.Errorf("connection %d carried %q", i, buf[:n])
				return
			}
		}
		al.Close()
		sys.Write(goW.Raw(), []byte("x"))
		accepted <- nil
	}()
	m, err := runIsolatedFds(t, "sealed", &ns.Spec{
		New:        []string{"user", "mount", "net", "pid", "ipc", "uts"},
		Root:       []ns.Entry{{Bind: d, At: "/data", RO: true}},
		NoNewPrivs: true,
	}, map[int]*fdio.FD{3: cli, 4: goR}, "FDWIRE_NS_TCP="+strconv.Itoa(port), "FDWIRE_NS_CONNECTOR=3",
		"FDWIRE_NS_TIMES="+strconv.Itoa(times), "FDWIRE_NS_AFTER=4")
	goR.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"uid":       strconv.Itoa(os.Getuid()),
		"pid":       "1",
		"fds":       "1,2,3,4", // stdout (the report), stderr, the connector and the go-ahead pipe
		"conn":      "1000",
		"connerr":   "ECONNREFUSED",
		"root":      "data",
		"proc":      "ENOENT",
		"data":      "hello from the handle ok",
		"datawrite": "EROFS",
		"rootwrite": "EROFS",
		"escape":    "EXDEV",
		"tcp":       "ECONNREFUSED",
		"lo":        "up",
		"nnp":       "1",
		"devnull":   "ENOENT",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: got %q, want %q", k, m[k], v)
		}
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}

// TestIsolateRootEntries: tmpfs, proc (in a new pid namespace) and a
// minimal /dev.
func TestIsolateRootEntries(t *testing.T) {
	d := sealedDir(t)
	leakcheck.Check(t)
	m, err := runIsolated(t, "sealed", &ns.Spec{
		New: []string{"user", "mount", "pid"},
		Root: []ns.Entry{
			{Bind: d, At: "/data"}, {Tmpfs: "/tmp"}, {Proc: "/proc"}, {Dev: "/dev"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"root": "data,dev,proc,tmp", "proc": "ok", "devnull": "ok", "pid": "1", "datawrite": "ok", "nnp": "0"} {
		if m[k] != v {
			t.Errorf("%s: got %q, want %q", k, m[k], v)
		}
	}
}

func nsInode(t *testing.T, pid int, kind string) string {
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestJoinNamespaces: join.net through an nsfd and join.pid + join.uts
// through a pidfd (the pid namespace is entered on the forking thread).
func TestJoinNamespaces(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("joining another process's namespaces needs CAP_SYS_ADMIN over them (run as root)")
	}
	leakcheck.Check(t)
	holder, err := owner.Spawn(proc.Attr{Argv: []string{"sleep", "100"}, Isolate: &ns.Spec{New: []string{"net", "pid", "uts"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Kill(unix.SIGKILL); holder.Wait(0) }()
	netfd, err := ns.Open(holder.Pid, "net")
	if err != nil {
		t.Fatal(err)
	}
	defer netfd.Close()
	m, err := runIsolated(t, "ns", &ns.Spec{Join: map[string]*fdio.FD{"net": netfd, "pid": holder.Pidfd, "uts": holder.Pidfd}})
	if err != nil {
		t.Fatal(err)
	}
	if want := nsInode(t, holder.Pid, "net"); m["ns.net"] != want {
		t.Errorf("net: got %s, want %s", m["ns.net"], want)
	}
	if want := nsInode(t, holder.Pid, "pid"); m["ns.pid"] != want {
		t.Errorf("pid: got %s, want %s", m["ns.pid"], want)
	}
	if want := nsInode(t, holder.Pid, "uts"); m["ns.uts"] != want {
		t.Errorf("uts: got %s, want %s", m["ns.uts"], want)
	}
	if m["pid"] == "1" || m["pid"] == strconv.Itoa(holder.Pid) {
		t.Errorf("pid inside the joined namespace: %s", m["pid"])
	}
	// The forking thread went back: our own namespaces are unchanged.
	if nsInode(t, os.Getpid(), "net") == m["ns.net"] {
		t.Errorf("this process moved into the joined net namespace")
	}
}

// TestIsolateBadInput: each refusal is an EINVAL or EBADF that names
// what is wrong, and leaves nothing behind.
func TestIsolateBadInput(t *testing.T) {
	leakcheck.Check(t)
	mnt, err := ns.Open(0, "mount")
	if err != nil {
		t.Fatal(err)
	}
	defer mnt.Close()
	closed, _ := fdio.OpenFile("/", unix.O_PATH, 0)
	closed.Close()
	r, w, _ := fdio.Pipe()
	defer r.Close()
	defer w.Close()
	d, _ := fdio.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY, 0)
	defer d.Close()
	cases := []struct {
		name  string
		spec  ns.Spec
		errno unix.Errno
		msg   string
	}{
		{"wrong nsfd type", ns.Spec{Join: map[string]*fdio.FD{"net": mnt}}, unix.EINVAL, "needs a net namespace, but fd"},
		{"not a namespace", ns.Spec{Join: map[string]*fdio.FD{"net": r}}, unix.EINVAL, "is a pipe"},
		{"closed join", ns.Spec{Join: map[string]*fdio.FD{"net": closed}}, unix.EBADF, "closed handle"},
		{"closed dir", ns.Spec{New: []string{"user", "mount"}, Root: []ns.Entry{{Bind: closed, At: "/x"}}}, unix.EBADF, "closed handle"},
		{"outside root", ns.Spec{New: []string{"user", "mount"}, Root: []ns.Entry{{Bind: d, At: "/../x"}}}, unix.EINVAL, "outside the new root"},
		{"relative target", ns.Spec{New: []string{"user", "mount"}, Root: []ns.Entry{{Bind: d, At: "x"}}}, unix.EINVAL, "absolute path"},
		{"root without mount", ns.Spec{New: []string{"user"}, Root: []ns.Entry{{Tmpfs: "/tmp"}}}, unix.EINVAL, "needs a new mount namespace"},
		{"unknown", ns.Spec{New: []string{"nett"}}, unix.EINVAL, "unknown namespace"},
		{"join and new", ns.Spec{New: []string{"mount"}, Join: map[string]*fdio.FD{"mount": mnt}}, unix.EINVAL, "both joined and created"},
		{"join user", ns.Spec{Join: map[string]*fdio.FD{"user": mnt}}, unix.EINVAL, "single-threaded"},
		{"map without user", ns.Spec{New: []string{"net"}, UIDMap: ns.RootUIDMap()}, unix.EINVAL, "new user namespace"},
		{"exe not a file", ns.Spec{New: []string{"user"}, Exe: d}, unix.EACCES, "regular file"},
	}
	for _, c := range cases {
		spec := c.spec
		_, err := owner.Spawn(proc.Attr{Argv: []string{"true"}, Isolate: &spec})
		if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %v with %q", c.name, err, c.errno, c.msg)
		}
	}
}

// TestSealedChildUnprivileged runs the sealed-child tests again as uid
// 65534 (setpriv): a user namespace makes them possible without any
// privilege, and the bind then takes the path route (see runtime/ns).
func TestSealedChildUnprivileged(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("already unprivileged (the other tests ran as this uid)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (util-linux)")
	}
	nsHelper(t) // skip here, naming gcc, if it cannot be built
	if out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "--user", "true").CombinedOutput(); err != nil {
		t.Skipf("the kernel refuses unprivileged user namespaces: %s (%s)", ns.UsernsHint(), out)
	}
	dir, err := os.MkdirTemp("", "fdwire-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "proc.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin,
		"-test.run", "^(TestSealedChild|TestIsolateRootEntries|TestIsolateBadInput|TestIsolateUnprivilegedMap)$", "-test.v", "-test.count=1",
		// A hang as uid 65534 fails here with the child's stacks instead
		// of stalling the whole package until go test's own limit.
		"-test.timeout=120s")
	cmd.Dir = dir
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o700)
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSealedChild") || !strings.Contains(string(out), "--- PASS: TestIsolateUnprivilegedMap") {
		t.Fatalf("as uid 65534: %v\n%s", err, out)
	}
}

// TestIsolateUnprivilegedMap: without privilege, a map of more than one's
// own id is refused by the kernel, and the error says both possible
// reasons. (Run as uid 65534 by TestSealedChildUnprivileged.)
func TestIsolateUnprivilegedMap(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root may map any ids; TestSealedChildUnprivileged runs this as uid 65534")
	}
	leakcheck.Check(t)
	_, err := owner.Spawn(proc.Attr{Argv: []string{"/bin/true"}, Isolate: &ns.Spec{New: []string{"user"}, UIDMap: []ns.IDMap{{Inside: 0, Outside: 0, Count: 10}}}})
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "uid_map/gid_map") || !strings.Contains(err.Error(), "sysctl") {
		t.Fatalf("got %v", err)
	}
}
