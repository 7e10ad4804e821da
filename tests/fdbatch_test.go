package tests

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// An FdBatch ends with the script when the script is ended by SIGTERM,
// and none of its descriptors (touched or not) reaches a child: the write
// ends of the test's pipe travel through a batch inside fdwire, a detached
// child (which outlives fdwire) is started while the batch is open, and
// after SIGTERM the pipe reads EOF, so no process holds any of them.
func TestFdBatchAccountedForAfterSIGTERM(t *testing.T) {
	leakcheck.Check(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(fdwireBin, "-e", `
		local w = fd.dup(fd.from(3))
		local a, b = sock.pair("seqpacket")
		sock.sendfds(a, {w, w, w, w}, "x")
		w:close()
		local bt = sock.recvfds(b, {batch = true})
		local _ = bt[2] -- one touched, three not
		local child = proc.spawn{"/bin/sleep", "30", detach = true}
		print("ready " .. child:pid())
		io.stdout:flush()
		task.sleep(30)
	`)
	cmd.ExtraFiles = []*os.File{w}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no ready line: %q %v", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	t.Cleanup(func() {
		if pid > 0 {
			// re-parented to this process (the suite is a subreaper)
			syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	})
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("fdwire after SIGTERM: %v, want exit 143", err)
	}
	if syscall.Kill(pid, 0) != nil {
		t.Fatalf("the detached child %d is gone: the test proves nothing", pid)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pipe's write end is still open after SIGTERM: a batch descriptor leaked into the detached child")
	}
}
