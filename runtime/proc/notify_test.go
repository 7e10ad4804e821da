package proc_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/sys"
)

// TestNotifyServer: the notify server as a Go library: systemd-notify
// --ready (which waits on a BARRIER=1 reply) in a child that then sends
// 100 more messages is ready, never blocked, and every message after
// ready is recorded; NOTIFY_SOCKET is a short path.
func TestNotifyServer(t *testing.T) {
	leakcheck.Check(t)
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify is not installed (apt-get install systemd)")
	}
	p, err := owner.Spawn(proc.Attr{
		Argv: []string{"/bin/sh", "-c", `echo "$NOTIFY_SOCKET"; systemd-notify --ready --status=up
i=0; while [ $i -lt 100 ]; do systemd-notify --no-block "STATUS=n$i" WATCHDOG=1; i=$((i+1)); done; systemd-notify --no-block STOPPING=1`},
		Setsid: true,
		Notify: true,
		Stdio:  [3]proc.Stdio{proc.StdioNull, proc.StdioPipe, proc.StdioInherit},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stdout.Close()
	st, err := p.WaitReady(20 * time.Second)
	if err != nil || !st.Ready || st.Via != "notify_socket" {
		t.Fatalf("ready: %+v %v", st, err)
	}
	ws, err := p.Wait(20 * time.Second)
	if err != nil || !ws.Exited || ws.Code != 0 {
		t.Fatalf("the chatty child: %v %v", ws, err)
	}
	n := p.Notices()
	if n.Status != "n99" || n.Watchdog != 100 || !n.Stopping || n.Dropped != 0 {
		t.Fatalf("notices: status %q watchdog %d stopping %v dropped %d\n%s", n.Status, n.Watchdog, n.Stopping, n.Dropped, strings.Join(n.Log, "\n"))
	}
	buf := make([]byte, 256)
	k, _ := sys.Read(p.Stdout.Raw(), buf)
	path := strings.TrimSpace(string(buf[:k]))
	if !strings.HasPrefix(path, "/") || len(path) > 107 {
		t.Errorf("NOTIFY_SOCKET %q: want a path under 108 bytes", path)
	}
}
