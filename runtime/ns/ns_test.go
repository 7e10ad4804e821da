package ns_test

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/ns"
)

// TestLoopbackUp brings lo up in a fresh network namespace entered by one
// locked thread (needs root: without a user namespace, unshare of a net
// namespace needs CAP_SYS_ADMIN).
func TestLoopbackUp(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("unsharing a network namespace on a thread needs CAP_SYS_ADMIN (run as root)")
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		if err := ns.LoopbackUp(); err != nil {
			done <- err
			return
		}
		s, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		defer unix.Close(s)
		ifr, _ := unix.NewIfreq("lo")
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
			done <- err
			return
		}
		if ifr.Uint16()&unix.IFF_UP == 0 {
			done <- errors.New("lo is still down")
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPrepareChecks: the plan refuses what the kernel would refuse later,
// or what cannot mean anything, naming the setting.
func TestPrepareChecks(t *testing.T) {
	cases := []struct {
		spec    ns.Spec
		forExec bool
		msg     string
	}{
		{ns.Spec{New: []string{"user"}, UIDMap: []ns.IDMap{{0, 1000, 10}, {5, 2000, 1}}}, false, "overlap"},
		{ns.Spec{New: []string{"user"}, UIDMap: []ns.IDMap{{0, 1000, 0}}}, false, "count 0"},
		{ns.Spec{New: []string{"user"}}, true, "exec cannot create a user namespace"},
		{ns.Spec{New: []string{"net", "net"}}, false, "listed twice"},
		{ns.Spec{New: []string{"user", "mount"}, Root: []ns.Entry{{Tmpfs: "/"}}}, false, "the new root itself"},
		{ns.Spec{New: []string{"user", "mount"}, Root: []ns.Entry{{Tmpfs: "/a"}, {Tmpfs: "/a/"}}}, false, "two entries mount at /a"},
		{ns.Spec{New: []string{"user", "mount"}, Root: []ns.Entry{{Tmpfs: "/a", At: "/b"}}}, false, "at belongs to bind"},
		{ns.Spec{New: []string{"user", "mount"}, Root: []ns.Entry{{}}}, false, "exactly one of"},
	}
	for _, c := range cases {
		p, err := ns.Prepare(&c.spec, c.forExec)
		if err == nil {
			p.Close()
		}
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: got %v, want EINVAL with %q", c.spec, err, c.msg)
		}
	}
	p, err := ns.Prepare(&ns.Spec{New: []string{"user", "net"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.CloneFlags != unix.CLONE_NEWUSER|unix.CLONE_NEWNET || !p.Child.LoopbackUp || len(p.UIDMap) != 1 || p.UIDMap[0].HostID != os.Getuid() {
		t.Errorf("plan %+v", p)
	}
}

// TestChildSpecRoundTrip: the trampoline gets exactly the plan.
func TestChildSpecRoundTrip(t *testing.T) {
	c := ns.ChildSpec{AuxBase: 7, Joins: []ns.ChildJoin{{Aux: 1, Flags: unix.CLONE_NEWNS}}, HasRoot: true,
		Root: []ns.ChildMount{{Kind: "bind", At: "/a b\n", Tree: 2, Src: -1}}, Exe: 0, NAux: 3}
	d, err := ns.Decode(c.Encode())
	if err != nil || d.Encode() != c.Encode() {
		t.Fatalf("round trip: %v %s", err, d.Encode())
	}
}

// TestNetnsSameName: two network namespaces of fdwire's own each bind the
// same abstract name, and a socket made in one reaches only its own.
func TestNetnsSameName(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("a network namespace of fdwire's own needs CAP_SYS_ADMIN (run as root)")
	}
	name := "@fdwire-ns-test-" + strings.Repeat("x", 3)
	var ls [2]int
	for i := range ls {
		h, err := ns.NewNetns()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		err = ns.InNetns(h, func() error {
			s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			ls[i] = s
			if err := unix.Bind(s, &unix.SockaddrUnix{Name: name}); err != nil {
				return err
			}
			return unix.Listen(s, 1)
		})
		if err != nil {
			t.Fatalf("netns %d: %v", i, err)
		}
		defer unix.Close(ls[i])
	}
	// Not in ours.
	c, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: name}); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("connect in our namespace: %v, want ECONNREFUSED", err)
	}
}

// TestForkErrorNames: a refused fork names the namespaces and the reason.
func TestForkErrorNames(t *testing.T) {
	err := ns.ForkError(unix.EPERM, unix.CLONE_NEWUSER|unix.CLONE_NEWNET)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "net+user") || !strings.Contains(err.Error(), "sysctl") {
		t.Errorf("user: %v", err)
	}
	err = ns.ForkError(unix.EPERM, unix.CLONE_NEWNET)
	if !strings.Contains(err.Error(), "needs CAP_SYS_ADMIN") || !strings.Contains(err.Error(), `add "user"`) {
		t.Errorf("net: %v", err)
	}
	if err := ns.ForkError(unix.EINVAL, unix.CLONE_NEWPID); !strings.Contains(err.Error(), "refuses this combination") {
		t.Errorf("einval: %v", err)
	}
}
