package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// Lifetime (docs/guide.md): children never outlive fdwire unless started
// with detach = true, however fdwire ends.

// started is an fdwire run whose first stdout line lists pids.
type started struct {
	cmd    *exec.Cmd
	pids   []int
	stderr *strings.Builder
}

// startFdwire runs fdwire with args and reads the pids it prints first.
func startFdwire(t *testing.T, adjust func(*exec.Cmd), args ...string) *started {
	t.Helper()
	cmd := exec.Command(fdwireBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "FDWIRE="+fdwireBin)
	var errb strings.Builder
	cmd.Stderr = &errb
	if adjust != nil {
		adjust(cmd)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("reading pids: %v; stderr:\n%s", err, errb.String())
	}
	s := &started{cmd: cmd, stderr: &errb}
	for _, f := range strings.Fields(line) {
		n, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		s.pids = append(s.pids, n)
		if !alive(n) {
			t.Errorf("pid %d is not running before the test acts", n)
		}
	}
	return s
}

// exitCode waits for the run and returns its status (128+N when killed).
func (s *started) exitCode() int {
	err := s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// gone waits (bounded, not timed: the kernel delivers asynchronously) for
// each pid to have ended, reaping the ones that came to this process (the
// test binary is a subreaper), and reports the survivors, killing them.
func gone(t *testing.T, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("%s: pid %d survived", what, pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	reapOurs()
}

// reapOurs reaps zombies that were reparented to this test process.
func reapOurs() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// spawnTree is a script that starts a child and an orphaned grandchild
// (its shell exits; fdwire adopts it as subreaper), prints their pids and
// waits.
const spawnTree = `
	local c = proc.spawn{"sleep", "60"}
	local p = proc.spawn{"sh", "-c", "sleep 60 & echo $!", stdout = "pipe"}
	local g = p:stdout():read(100)
	p:wait()
	io.stdout:write(c:pid(), " ", g)
	io.stdout:flush()
	c:wait()
`

var endSignals = []unix.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT}

// TestLifetimeSignalsEndScriptInOrder: SIGINT, SIGTERM, SIGHUP and
// SIGQUIT each end a script with its ordered teardown (exit 128+N), and
// neither its child nor its orphaned grandchild is left.
func TestLifetimeSignalsEndScriptInOrder(t *testing.T) {
	leakcheck.Check(t)
	for _, sig := range endSignals {
		s := startFdwire(t, nil, "-e", spawnTree)
		s.cmd.Process.Signal(sig)
		if code := s.exitCode(); code != 128+int(sig) {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", sig, code, 128+int(sig), s.stderr)
		}
		if strings.Contains(s.stderr.String(), "goroutine ") {
			t.Errorf("%v: Go's own handler ran (a goroutine dump), not fdwire's teardown:\n%s", sig, s.stderr)
		}
		gone(t, unix.SignalName(sig), s.pids...)
	}
}

// TestLifetimeSigkillEndsChildren: SIGKILL gives fdwire no say; the kernel
// ends its children (PR_SET_PDEATHSIG), and a detached child is left
// running in a session of its own.
func TestLifetimeSigkillEndsChildren(t *testing.T) {
	leakcheck.Check(t)
	s := startFdwire(t, nil, "-e", `
		local c = proc.spawn{"sleep", "60"}
		local u = proc.spawn{"sleep", "60", uid = 65534, umask = 18} -- through the trampoline
		local d = proc.spawn{"sleep", "60", detach = true, stdin = "null", stdout = "null", stderr = "null"}
		print(c:pid(), u:pid(), d:pid())
		io.stdout:flush()
		c:wait()
	`)
	detached := s.pids[2]
	defer func() { unix.Kill(detached, unix.SIGKILL); gone(t, "cleanup", detached) }()
	s.cmd.Process.Signal(unix.SIGKILL)
	s.exitCode()
	gone(t, "SIGKILL", s.pids[0], s.pids[1])
	reapWardens()
	if !alive(detached) {
		t.Fatalf("the detached child %d died with fdwire", detached)
	}
	if sid, _ := unix.Getsid(detached); sid != detached {
		t.Errorf("the detached child is in session %d, not its own", sid)
	}
}

// TestLifetimeDetachSurvivesExit: a detached child is not signalled or
// reaped as an orphan when fdwire exits normally (issue 13: TerminateAll
// dropped it and the orphan sweep then killed it), and it is in its own
// session, in fdwire's parent's cgroup.
func TestLifetimeDetachSurvivesExit(t *testing.T) {
	leakcheck.Check(t)
	r := fdwire(t, "", "-e", `
		local d = proc.spawn{"sh", "-c", "sleep 60 & exec sleep 60", detach = true, stdin = "null", stdout = "null", stderr = "null"}
		print(d:pid())
	`)
	pid, _ := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if r.Code != 0 || pid == 0 {
		t.Fatalf("%+v", r)
	}
	defer func() {
		unix.Kill(-pid, unix.SIGKILL)
		gone(t, "cleanup", pid)
		// Its own child (the backgrounded sleep) dies with it and comes to
		// this subreaper too, maybe after gone's one reaping round.
		for i := 0; i < 1000 && inGroupOf(pid); i++ {
			reapOurs()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if !alive(pid) {
		t.Fatalf("the detached child %d did not survive fdwire's exit", pid)
	}
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("session %d, want its own", sid)
	}
	mine, _ := os.ReadFile("/proc/self/cgroup")
	theirs, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if string(mine) != string(theirs) {
		t.Errorf("the detached child is in another cgroup:\n%s\nwant:\n%s", theirs, mine)
	}
}

// TestLifetimeExitWithFullDescriptorTable: the script fills its descriptor
// table (prlimit 64) and ends; teardown still ends every child and orphan
// (issue 13: Go's poller was first set up at teardown, failed with
// EMFILE, and Go aborted before any child was signalled).
func TestLifetimeExitWithFullDescriptorTable(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed; .ci/run installs it")
	}
	leakcheck.Check(t)
	cmd := exec.Command("prlimit", "--nofile=64:64", fdwireBin, "-e", `
		local c = proc.spawn{"sleep", "60"}
		local p = proc.spawn{"sh", "-c", "sleep 60 & echo $!", stdout = "pipe"}
		local g = p:stdout():read(100)
		p:wait()
		local held, err = {}, nil
		while true do
			local ok, h = pcall(fd.dup, fd.stdin)
			if not ok then err = h break end
			held[#held + 1] = h
		end
		assert(err.name == "EMFILE", tostring(err))
		io.stdout:write(c:pid(), " ", g)
		io.stdout:flush()
	`)
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	if err != nil || strings.Contains(stderr, "fatal error") {
		t.Errorf("fdwire with a full table: %v\n%s", err, stderr)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	if len(pids) != 2 {
		t.Fatalf("pids %q", out)
	}
	gone(t, "full descriptor table", pids...)
}

// TestLifetimeSignalsEndTool: each ending signal to `fdwire activate`
// ends its COMMAND and removes the socket file it made; after SIGKILL the
// warden removes it (issue 13: it stayed).
func TestLifetimeSignalsEndTool(t *testing.T) {
	leakcheck.Check(t)
	for _, sig := range append(endSignals, unix.SIGKILL) {
		sock := filepath.Join(t.TempDir(), "a.sock")
		s := startFdwire(t, nil, "activate", "--now", "-l", sock, "--", "sh", "-c", "echo $$; exec sleep 60")
		s.cmd.Process.Signal(sig)
		code := s.exitCode()
		if sig != unix.SIGKILL && code != 128+int(sig) {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", sig, code, 128+int(sig), s.stderr)
		}
		gone(t, "activate "+unix.SignalName(sig), s.pids...)
		if sig == unix.SIGKILL {
			waitGone(sock) // the warden removes it after fdwire is gone
			reapWardens()
		}
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("%v: the socket file %s is left", sig, sock)
		}
	}
}

// TestExecFailuresReturn: proc.exec of a missing program, a file without
// execute permission or a directory raises an error and the script goes
// on (issue 13: it never returned; the trampoline exited 127).
func TestExecFailuresReturn(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data")
	os.WriteFile(notExec, []byte("#!/bin/sh\necho no\n"), 0o644)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("\x00\x01not a program\n"), 0o755)
	badInterp := filepath.Join(dir, "badinterp")
	os.WriteFile(badInterp, []byte("#!/nonexistent/interp\n"), 0o755)
	r := fdwire(t, "", "-e", `
		local c = proc.spawn{"sleep", "60"}
		local cases = {
			{ {"/nonexistent"}, "ENOENT" },
			{ {arg[1]}, "EACCES" },
			{ {"/tmp"}, "EACCES" },
			{ {arg[2]}, "ENOEXEC" },
			{ {arg[3]}, "ENOENT" },
			{ {"true", cwd = "/nonexistent"}, "ENOENT" },
		}
		for _, k in ipairs(cases) do
			local ok, e = pcall(proc.exec, k[1])
			assert(not ok, "exec returned without error")
			assert(e.name == k[2], tostring(k[1][1]) .. ": " .. tostring(e) .. ", want " .. k[2])
		end
		assert(c:running(), "the child must still be running after failed execs")
		print("still here")
	`, notExec, garbage, badInterp)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "still here" {
		t.Fatalf("%+v", r)
	}
}

// TestToolNotExecutableIs126: recv's COMMAND that is not executable makes
// it exit 126, one that does not exist 127, as documented.
func TestToolNotExecutableIs126(t *testing.T) {
	leakcheck.Check(t)
	for _, k := range []struct {
		prog string
		code int
	}{{"/etc/passwd", 126}, {"/nonexistent/prog", 127}} {
		name := "@fdwire-owner-126-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(k.code)
		recv := exec.Command(fdwireBin, "recv", "-f", "3", name, "--", k.prog)
		recv.Dir = repoRoot
		var errb strings.Builder
		recv.Stderr = &errb
		if err := recv.Start(); err != nil {
			t.Fatal(err)
		}
		send := fdwire(t, "", "send", "--blocking", "--timeout", "20", name)
		if send.Code != 0 {
			recv.Process.Kill()
		}
		err := recv.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != k.code {
			t.Errorf("recv -- %s: exit %d, want %d; stderr:\n%s\nsend: %+v", k.prog, code, k.code, errb.String(), send)
		}
	}
}

// TestLifetimeSignalsEndTopology: SIGTERM, SIGHUP and SIGQUIT to `fdwire
// up` each tear the topology down in order (exit 128+N) and leave no
// process, socket file, run directory or cgroup (SIGINT: TestTopoUpSIGINT).
// After SIGKILL the warden removes them (issue 13: every child kept
// running, and the run directory and cgroup stayed).
func TestLifetimeSignalsEndTopology(t *testing.T) {
	leakcheck.Check(t)
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGKILL} {
		dir := t.TempDir()
		pids := filepath.Join(dir, "pids")
		topoFile := writeFile(t, dir, "svc.lua", fmt.Sprintf(`return {
			sockets = { api = { path = "api.sock" } },
			procs = {
				db = { sh = "echo $$ >> %[1]s; sleep 60 & echo $! >> %[1]s; echo db-up; wait", fds = { [3] = "api" }, ready = { stdout = "db%%-up" } },
			},
		}`, pids))
		tmp := t.TempDir()
		cg := newOwnCgroup(t)
		cmd := exec.Command(fdwireBin, "up", topoFile)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		cg.in(cmd)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "db | db-up") {
				break
			}
		}
		cmd.Process.Signal(sig)
		for sc.Scan() {
		}
		s := &started{cmd: cmd}
		if code := s.exitCode(); code != 128+int(sig) {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", sig, code, 128+int(sig), errb.String())
		}
		b, _ := os.ReadFile(pids)
		var ps []int
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			ps = append(ps, pid)
		}
		if len(ps) != 2 {
			t.Errorf("%v: pids %q", sig, b)
		}
		gone(t, "fdwire up "+unix.SignalName(sig), ps...)
		if sig == unix.SIGKILL {
			waitEmpty(tmp) // the warden works after fdwire is gone
			defer reapStrays()
		}
		assertEmpty(t, tmp)
		if left := cg.left(); len(left) > 0 {
			t.Errorf("%v: cgroups left: %v", sig, left)
		}
	}
}

// waitEmpty waits (bounded) for dir to become empty.
func waitEmpty(dir string) {
	for i := 0; i < 1000; i++ {
		if ents, _ := os.ReadDir(dir); len(ents) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reapStrays waits (bounded) until this process has no children left,
// reaping what comes to it: after a SIGKILL of fdwire its warden finishes
// its work and exits as a child of this (subreaper) process.
func reapStrays() { reapUntilNone(func(string) bool { return true }) }

// reapUntilNone waits (bounded) until no child of this process (of any of
// its threads) is one that counts, reaping what comes to it.
func reapUntilNone(counts func(pid string) bool) {
	for i := 0; i < 1000; i++ {
		reapOurs()
		tasks, _ := os.ReadDir("/proc/self/task")
		n := 0
		for _, tk := range tasks {
			b, _ := os.ReadFile("/proc/self/task/" + tk.Name() + "/children")
			for _, pid := range strings.Fields(string(b)) {
				if counts(pid) {
					n++
				}
			}
		}
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLifetimeSigkillEndsOrphanedGrandchild: after a SIGKILL of fdwire
// running a plain script, nothing its children left is running either: a
// grandchild already orphaned (its shell exited, fdwire had adopted it as
// subreaper) and one orphaned by the kill itself (its shell dies of the
// death signal) have no death signal of their own; the warden kills them
// through the runtime's children cgroup and removes the group (issue 13:
// both survived). Detached children are in none of it.
func TestLifetimeSigkillEndsOrphanedGrandchild(t *testing.T) {
	leakcheck.Check(t)
	cg := needOwnCgroup(t)
	s := startFdwire(t, cg.in, "-e", `
		-- The grandchildren hold none of fdwire's stdio, so that a survivor
		-- shows in gone() rather than as a wait for fdwire's stderr to close.
		local p = proc.spawn{"sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!", stdout = "pipe"}
		local g1 = p:stdout():read(100)
		p:wait()
		local q = proc.spawn{"sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!; wait", stdout = "pipe"}
		local g2 = q:stdout():read(100)
		local d = proc.spawn{"sleep", "300", detach = true, stdin = "null", stdout = "null", stderr = "null"}
		io.stdout:write(q:pid(), " ", d:pid(), " ", g1:gsub("\n", ""), " ", g2)
		io.stdout:flush()
		q:wait()
	`)
	if len(s.pids) != 4 {
		t.Fatalf("pids %v; stderr:\n%s", s.pids, s.stderr)
	}
	detached := s.pids[1]
	defer func() { unix.Kill(detached, unix.SIGKILL); gone(t, "cleanup", detached) }()
	s.cmd.Process.Signal(unix.SIGKILL)
	s.exitCode()
	gone(t, "SIGKILL", s.pids[0], s.pids[2], s.pids[3])
	waitNoCgroups(cg)
	reapWardens()
	if left := cg.left(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	if !alive(detached) {
		t.Fatalf("the detached child %d died with fdwire", detached)
	}
}

// waitNoCgroups waits (bounded) until fdwire's groups in cg are removed
// (after a SIGKILL the warden removes them once their processes are gone).
func waitNoCgroups(cg *ownCgroup) {
	for i := 0; i < 1000 && len(cg.left()) > 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
}

// reapWardens waits (bounded) until no fdwire warden is a child of this
// process, reaping what comes to it: after a SIGKILL of fdwire its warden
// ends the children cgroup and exits as a child of this (subreaper)
// process. Unlike reapStrays it leaves other children (a detached one).
func reapWardens() {
	reapUntilNone(func(pid string) bool {
		// An empty command line: a process in exit (about to be a zombie,
		// which the next round reaps).
		cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		return len(cmd) == 0 || strings.HasPrefix(string(cmd), "fdwire-warden\x00")
	})
}

// TestLifetimeSigkillNestedRun: a script runs `fdwire up` (a nested run,
// born in the script's children cgroup, with a warden of its own); after a
// SIGKILL of the outer fdwire nothing of either is left: the inner
// topology's processes, its run directory (the inner warden's to remove:
// the outer warden spares wardens in its group until they are done), and
// every cgroup.
func TestLifetimeSigkillNestedRun(t *testing.T) {
	leakcheck.Check(t)
	cg := needOwnCgroup(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	topoFile := writeFile(t, dir, "svc.lua", fmt.Sprintf(`return {
		sockets = { api = { path = "api.sock" } },
		procs = {
			db = { sh = "echo $$ >> %[1]s; sleep 60 </dev/null >/dev/null 2>&1 & echo $! >> %[1]s; echo db-up; wait", fds = { [3] = "api" }, ready = { stdout = "db%%-up" } },
		},
	}`, pids))
	tmp := t.TempDir()
	s := startFdwire(t, func(c *exec.Cmd) {
		cg.in(c)
		c.Env = append(c.Env, "TMPDIR="+tmp)
	}, "-e", `
		local up = proc.spawn{os.getenv("FDWIRE"), "up", arg[1], stdout = "pipe"}
		local out, seen = up:stdout(), ""
		while not seen:find("db | db-up", 1, true) do seen = seen .. out:read(4096) end
		print(up:pid())
		io.stdout:flush()
		up:wait()
	`, topoFile)
	s.cmd.Process.Signal(unix.SIGKILL)
	s.exitCode()
	b, _ := os.ReadFile(pids)
	var ps []int
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		ps = append(ps, pid)
	}
	if len(ps) != 2 {
		t.Errorf("pids %q", b)
	}
	gone(t, "nested SIGKILL", append(ps, s.pids...)...)
	waitEmpty(tmp)
	waitNoCgroups(cg)
	reapWardens()
	assertEmpty(t, tmp)
	if left := cg.left(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

// waitGone waits (bounded) until path no longer exists.
func waitGone(path string) {
	for i := 0; i < 1000; i++ {
		if _, err := os.Lstat(path); err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLifetimeSigkillToolSocketFiles: the socket file `fdwire hold` makes
// outside any run directory is removed by the warden after a SIGKILL
// (issue 13: it stayed; activate's: TestLifetimeSignalsEndTool; recv's
// goes the same way, common.listen, but recv says nothing when it
// listens). The kill comes after --ready-fd: between bind(2) and the
// warden's registration the file is not covered (docs/guide.md).
func TestLifetimeSigkillToolSocketFiles(t *testing.T) {
	leakcheck.Check(t)
	sock := filepath.Join(t.TempDir(), "hold.sock")
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	cmd := exec.Command(fdwireBin, "hold", "--ready-fd", "3", sock)
	cmd.ExtraFiles = []*os.File{wr}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	if n, err := rd.Read(make([]byte, 1)); n != 1 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("hold not ready: %v: %s", err, errb.String())
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("hold is ready but made no %s: %v", sock, err)
	}
	cmd.Process.Signal(unix.SIGKILL)
	cmd.Wait()
	waitGone(sock)
	reapWardens()
	if _, err := os.Lstat(sock); err == nil {
		t.Errorf("the socket file %s is left after SIGKILL", sock)
	}
}

// TestLifetimeExecHandsOverChildren: proc.exec hands the children to the
// new program alive (exec runs on the thread that forked them: bb7b8e4
// forked on the pinned main thread and exec'd from the spawner thread,
// whose execve ended the main thread and fired the children's death
// signal); they leave the runtime's children cgroup for fdwire's own, and
// the group is removed (the new program would never remove it).
func TestLifetimeExecHandsOverChildren(t *testing.T) {
	leakcheck.Check(t)
	cg := needOwnCgroup(t)
	cmd := exec.Command(fdwireBin, "-e", `
		local c = proc.spawn{"sleep", "60"}
		local t = io.open("/proc/" .. c:pid() .. "/cgroup"):read("*a")
		assert(t ~= io.open("/proc/self/cgroup"):read("*a"), "the child is not in a children cgroup: " .. t)
		proc.exec{"sh", "-c", "echo $0; grep '^0::' /proc/$0/cgroup /proc/self/cgroup | sed 's/^[^:]*://'; kill $0", tostring(c:pid())}
	`)
	cg.in(cmd)
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if pid, _ := strconv.Atoi(lines[0]); pid > 0 {
		gone(t, "exec", pid) // killed by the new program; reaped here (subreaper)
	}
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The child survived the exec (its cgroup file could be read) and is
	// in the program's cgroup.
	if len(lines) != 3 || lines[1] != lines[2] {
		t.Errorf("after exec the child's cgroup and the program's differ (or the child died):\n%s", out)
	}
	if left := cg.left(); len(left) > 0 {
		t.Errorf("cgroups left after exec: %v", left)
	}
}

// inGroupOf reports whether a child of this process is in process group
// pgid (zombies included, until reaped).
func inGroupOf(pgid int) bool {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, tk := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + tk.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			if g, err := unix.Getpgid(n); err == nil && g == pgid {
				return true
			}
		}
	}
	return false
}

// TestLifetimeUnprivilegedNoChildrenCgroup: as uid 65534, which may not
// write fdwire's cgroup (no delegation), no children cgroup can be made:
// spawns go on in fdwire's own cgroup, the run ends cleanly, and a
// grandchild is still ended at the ordered teardown (subreaper).
func TestLifetimeUnprivilegedNoChildrenCgroup(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command(fdwireBin, "-e", `
		local p = proc.spawn{"sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!", stdout = "pipe"}
		local g = p:stdout():read(100)
		p:wait()
		local c = proc.spawn{"cat", "/proc/self/cgroup", stdout = "pipe"}
		local theirs = c:stdout():read(4096)
		c:wait()
		local mine = io.open("/proc/self/cgroup"):read("*a")
		assert(theirs == mine, "the child is in another cgroup: " .. theirs .. " (fdwire: " .. mine .. ")")
		io.stdout:write(g)
	`)
	asNobody(t)(cmd)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%v: %s%s", err, out, stderr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if pid == 0 {
		t.Fatalf("no grandchild pid: %q", out)
	}
	gone(t, "unprivileged teardown", pid)
}

// TestTopoUnprivilegedCgroupError: a topology run by uid 65534 cannot make
// its cgroup; the result says so and says why, as a structured error (it
// was a bare string before, and never reached the result).
func TestTopoUnprivilegedCgroupError(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command(fdwireBin, "-e", `
		local top = topo.up{ procs = { one = { sh = "exit 0", expect = { exit = 0 } } } }
		local ok, r = top:wait()
		assert(ok, tostring(r))
		local e = r.cgroup_error
		assert(r.cgroup == false and type(e) == "table", "no reason for the missing cgroup: " .. tostring(e))
		assert(type(e.op) == "string" and type(e.errno) == "number" and e.name:match("^E") and type(e.msg) == "string",
			"not a structured error: " .. tostring(e))
		print(e.name)
	`)
	asNobody(t)(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if name := strings.TrimSpace(string(out)); name != "EACCES" && name != "EPERM" && name != "EROFS" && name != "ENOENT" {
		t.Fatalf("cgroup_error %q: want the errno of a refused mkdir", name)
	}
}

// TestLifetimeExecKeepsSpawnerThreadChildren: a child that joins another
// process's network namespace is forked on the runtime's spawner thread
// (the join is made there), not on the pinned main thread; when it is the
// only child, proc.exec runs on the spawner thread, so the execve that ends
// every other thread does not fire its death signal.
func TestLifetimeExecKeepsSpawnerThreadChildren(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command(fdwireBin, "-e", `
		local h = proc.spawn{"sleep", "60", namespaces = {"net"}}
		local netns = fd.open("/proc/" .. h:pid() .. "/ns/net", "r")
		h:kill("KILL"); h:wait()
		local c = proc.spawn{"sleep", "60", join = {net = netns}}
		netns:close()
		proc.exec{"sh", "-c", "echo $0; sleep 0.2; if kill -0 $0; then echo alive; fi; kill $0", tostring(c:pid())}
	`)
	checkExecKept(t, cmd, "the joined child did not survive the exec")
}

// TestLifetimeFirstSpawnWithFullDescriptorTable: a script that fills its
// descriptor table (prlimit 64) before its first spawn gets EMFILE from
// proc.spawn, not an aborted fdwire ("fatal error: runtime: netpollinit
// failed": the spawn path, the Reaper's ticker and the children cgroup's
// set-up were the first users of Go's poller); once descriptors are free
// again, a spawn works and its child is in the children cgroup.
func TestLifetimeFirstSpawnWithFullDescriptorTable(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed; .ci/run installs it")
	}
	leakcheck.Check(t)
	cg := newOwnCgroup(t)
	cmd := exec.Command("prlimit", "--nofile=64:64", fdwireBin, "-e", `
		local held = {}
		while true do
			local ok, h = pcall(fd.dup, fd.stdin)
			if not ok then break end
			held[#held + 1] = h
		end
		-- Each spawn with 0, 1, 2, ... descriptors free fails with EMFILE
		-- or works; none may abort fdwire (1 free did).
		for _ = 1, 6 do
			local ok, e = pcall(proc.spawn, {"true"})
			if ok then assert(e:wait() == 0) else assert(e.name == "EMFILE", tostring(e)) end
			held[#held]:close()
			held[#held] = nil
		end
		for _ = 1, 8 do held[#held]:close() held[#held] = nil end
		local p = proc.spawn{"sh", "-c", "grep '^0::' /proc/self/cgroup"}
		assert(p:wait() == 0)
	`)
	cg.in(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "fatal error") {
		t.Fatalf("%v: %s", err, out)
	}
	if cg != nil && !strings.Contains(string(out), "/fdwire-children-") {
		t.Errorf("the child is not in a children cgroup: %s", out)
	}
	if left := cg.left(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

// TestLifetimeExecRefusesSplitChildren: with children on both the pinned
// thread and the spawner thread (a net-joining one), proc.exec refuses
// with EBUSY before the point of no return, since execve keeps one thread
// and the other's children would get their death signal; both stay alive,
// and once one group is gone the exec goes through with the other kept.
func TestLifetimeExecRefusesSplitChildren(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command(fdwireBin, "-e", `
		local h = proc.spawn{"sleep", "60", namespaces = {"net"}}
		local netns = fd.open("/proc/" .. h:pid() .. "/ns/net", "r")
		local c = proc.spawn{"sleep", "60", join = {net = netns}}
		netns:close()
		local ok, e = pcall(proc.exec, {"true"})
		assert(not ok and e.name == "EBUSY" and e.op == "exec", "exec was not refused: " .. tostring(e))
		assert(tostring(e):find("1 running children were started on the runtime's spawner thread", 1, true), tostring(e))
		assert(h:running() and c:running(), "a child died at the refused exec")
		h:kill("KILL"); h:wait()
		proc.exec{"sh", "-c", "echo $0; sleep 0.2; if kill -0 $0; then echo alive; fi; kill $0", tostring(c:pid())}
	`)
	checkExecKept(t, cmd, "after the refused exec and a good one, the joined child did not survive")
}

// A child spawned with notify = true gets a private socket in a
// directory of fdwire's (/tmp/fdwire-notify-*); after a SIGKILL of
// fdwire the warden removes it, as it removes run directories (it used
// to stay behind).
func TestLifetimeSigkillRemovesNotifyDir(t *testing.T) {
	leakcheck.Check(t)
	s := startFdwire(t, nil, "-e", `
		local p = proc.spawn{"sleep", "300", notify = true, stdin = "null", stdout = "null", stderr = "null"}
		io.stdout:write(p:pid(), "\n")
		io.stdout:flush()
		p:wait()
	`)
	if len(s.pids) != 1 {
		t.Fatalf("pids %v; stderr:\n%s", s.pids, s.stderr)
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.pids[0]))
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	for _, kv := range strings.Split(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "NOTIFY_SOCKET="); ok {
			dir = filepath.Dir(v)
		}
	}
	if !strings.Contains(dir, "fdwire-notify-") || !pathExists(dir) {
		t.Fatalf("the child's NOTIFY_SOCKET directory %q does not exist", dir)
	}
	s.cmd.Process.Signal(unix.SIGKILL)
	s.exitCode()
	gone(t, "SIGKILL", s.pids[0])
	for i := 0; i < 1000 && pathExists(dir); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	reapWardens()
	if pathExists(dir) {
		t.Fatalf("%s left behind after SIGKILL", dir)
	}
}

// checkExecKept runs cmd, a script whose proc.exec'd sh prints a child's
// pid and "alive" if that child outlived the exec (then kills it), and
// fails with what unless it did.
func checkExecKept(t *testing.T, cmd *exec.Cmd, what string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if pid, _ := strconv.Atoi(lines[0]); pid > 0 {
		gone(t, "exec", pid)
	}
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(lines) != 2 || lines[1] != "alive" {
		t.Errorf("%s:\n%s", what, out)
	}
}
