package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/internal/testtool"
)

// realNotifiers returns what the notify tests need, or skips naming the
// missing package (.ci/run installs them): systemd-notify (systemd),
// python3's systemd.daemon (python3-systemd), and a C program built with
// libsystemd's sd_notify (libsystemd-dev).
func realNotifiers(t *testing.T) (py, cprog string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify is not installed (apt-get install systemd)")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv is not installed (apt-get install util-linux)")
	}
	py = testtool.Python(t)
	if err := exec.Command(py, "-c", "import systemd.daemon").Run(); err != nil {
		t.Skip("python3's systemd.daemon is missing (apt-get install python3-systemd)")
	}
	if _, err := os.Stat("/usr/include/systemd/sd-daemon.h"); err != nil {
		t.Skip("libsystemd's sd-daemon.h is missing (apt-get install libsystemd-dev)")
	}
	dir := t.TempDir()
	src := writeFile(t, dir, "sdn.c", `#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* Stores a pipe's read end (with a line in it) in the fd store, waits on
   a barrier, says READY=1, then 40 STATUS/WATCHDOG messages and STOPPING. */
int main(void) {
	int p[2];
	if (pipe(p) < 0 || write(p[1], "stored\n", 7) != 7) return 2;
	close(p[1]);
	int r = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=mypipe", &p[0], 1);
	if (r <= 0) { fprintf(stderr, "fdstore: %s\n", strerror(-r)); return 3; }
	close(p[0]);
	r = sd_notify_barrier(0, 10000000);
	if (r < 0) { fprintf(stderr, "barrier: %s\n", strerror(-r)); return 4; }
	if (sd_notify(0, "READY=1\nSTATUS=serving from C") <= 0) return 5;
	for (int i = 0; i < 40; i++) {
		char b[64];
		snprintf(b, sizeof b, "STATUS=tick %d\nWATCHDOG=1", i);
		sd_notify(0, b);
	}
	sd_notify(0, "STOPPING=1");
	pause();
	return 0;
}
`)
	cprog = filepath.Join(dir, "sdn")
	if out, err := exec.Command("gcc", "-o", cprog, src, "-lsystemd").CombinedOutput(); err != nil {
		t.Skipf("cannot build the sd_notify client (gcc, libsystemd-dev): %v\n%s", err, out)
	}
	return py, cprog
}

// TestTopoRealNotifiers: systemd-notify --ready (its BARRIER=1 carries a
// pipe fd) and --no-block, systemd-notify after dropping to uid 65534
// (through a shell, exec'd directly, and --no-block, whose sender may be
// reaped before its message is read), python3-systemd with 40 STATUS
// messages before and after READY=1, and libsystemd's sd_notify with
// FDSTORE=1 and sd_notify_barrier: each is seen ready 20 times out of
// 20, with a 100-byte $TMPDIR. The last STATUS= of the chatty ones is
// read after ready (the socket keeps being drained), the stored pipe is
// handed over by Topology:fdstore with its FDNAME, and a message forged
// by a process outside the child (fdwire itself, same uid) is dropped.
func TestTopoRealNotifiers(t *testing.T) {
	leakcheck.Check(t)
	py, cprog := realNotifiers(t)
	long := t.TempDir()
	long = filepath.Join(long, strings.Repeat("x", 100-len(long)-1))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	script := writeFile(t, t.TempDir(), "n20.lua", `
local py, cprog, exitinfo = arg[1], arg[2], arg[3] == "exitinfo"
local pysrc = [[
import systemd.daemon as d, time
for i in range(40): d.notify('STATUS=before %d' % i)
d.notify('READY=1')
for i in range(40): d.notify('STATUS=after %d' % i)
d.notify('STATUS=done')
time.sleep(60)
]]
local drop = "setpriv --reuid 65534 --regid 65534 --clear-groups "
local names = { "sdready", "noblock", "nobody_sh", "nobody_exec", "nobody_noblock", "python", "c" }
local seen = {}
for i = 1, 20 do
	local top = topo.up({ name = "n" .. i, timeout = 30, procs = {
		sdready = { sh = "echo $NOTIFY_SOCKET; systemd-notify --ready --status=via-sh; exec sleep 60", ready = { notify = true } },
		noblock = { sh = "systemd-notify --no-block --ready; exec sleep 60", ready = { notify = true } },
		nobody_sh = { sh = drop .. "systemd-notify --ready --status=as-nobody; exec sleep 60", ready = { notify = true } },
		-- As uid 65534 systemd-notify cannot claim its parent's pid, so the
		-- message comes from its own, and it may be gone (reaped by sh)
		-- before fdwire reads it: SCM_PIDFD still places it in the cgroup.
		nobody_noblock = exitinfo and { sh = drop .. "systemd-notify --no-block --ready; exec sleep 60", ready = { notify = true } } or nil,
		nobody_exec = { argv = { "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "sh", "-c", "systemd-notify --ready && exec sleep 60" }, ready = { notify = true } },
		python = { argv = { py, "-c", pysrc }, ready = { notify = true } },
		c = { argv = { cprog }, ready = { notify = true } },
	} })
	for _, n in ipairs(names) do
		if (n ~= "nobody_noblock" or exitinfo) and top:status(n).ready then seen[n] = (seen[n] or 0) + 1 end
	end
	local fds, fdnames = top:fdstore("c")
	assert(#fds == 1 and fdnames[1] == "mypipe", "fdstore: " .. #fds .. " " .. tostring(fdnames[1]))
	assert(fds[1]:read() == "stored\n")
	fds[1]:close()
	for _ = 1, 500 do
		if top:status("python").notify.status == "done" and top:status("c").notify.stopping then break end
		task.sleep(0.01)
	end
	local pn, cn = top:status("python").notify, top:status("c").notify
	assert(pn.status == "done" and pn.messages == 82, "python: " .. tostring(pn.status) .. " " .. pn.messages)
	assert(cn.status == "tick 39" and cn.watchdog == 40 and cn.stopping, "c: " .. tostring(cn.status))
	if i == 1 then
		-- fdwire is the same uid as the child but not the child: dropped.
		local path = top:stdout("sdready"):match("^(%S+)\n")
		local s = sock.socket("unix", "dgram")
		sock.sendto(s, path, "STATUS=forged")
		s:close()
		local n
		for _ = 1, 500 do
			n = top:status("sdready").notify
			if n.dropped > 0 then break end
			task.sleep(0.01)
		end
		assert(n.dropped == 1 and n.status == "via-sh", "forged: " .. n.dropped .. " " .. tostring(n.status))
	end
	local ok, r = top:down()
	assert(ok, tostring(r))
	if i == 1 then print(r) end
end
for _, n in ipairs(names) do print(n .. " ready " .. (seen[n] or 0) .. "/20") end
`)
	// A sender reaped before its message is read is placed by the cgroup
	// its pidfd says it died in: Linux 6.15's PIDFD_INFO_EXIT.
	exitinfo := kernelAtLeast(6, 15)
	if !exitinfo {
		t.Log("not testing a uid-65534 systemd-notify --no-block: a sender reaped before its message is read can only be placed with PIDFD_INFO_EXIT (Linux 6.15)")
	}
	r := fdwireCmd(t, "", func(c *exec.Cmd) { c.Env = append(c.Env, "TMPDIR="+long) }, script, py, cprog, map[bool]string{true: "exitinfo", false: "-"}[exitinfo])
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	names := []string{"sdready", "noblock", "nobody_sh", "nobody_exec", "python", "c"}
	if exitinfo {
		names = append(names, "nobody_noblock")
	}
	for _, n := range names {
		if !strings.Contains(r.Stdout, n+" ready 20/20") {
			t.Errorf("%s not ready 20/20:\n%s", n, r.Stdout)
		}
	}
	for _, want := range []string{"c STATUS=tick 39 (44 notify message(s), 40 watchdog, stopping)", "python STATUS=done (82 notify message(s))", "sdready STATUS=via-sh (2 notify message(s), 1 dropped)"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.Stdout)
		}
	}
	assertEmpty(t, long)
}

// TestProcNotifyUnprivileged: proc.spawn{notify = true, uid = 65534} is
// ready when the child (as uid 65534) says so; READY=1 from a stranger
// running as uid 65534 is dropped (authentication by pid); a child that sends 200
// messages after READY=1 is never blocked (it exits 0); a FDSTORE=1
// descriptor sent after :ready() returned outlives the child and is
// handed over by :fdstore().
func TestProcNotifyUnprivileged(t *testing.T) {
	leakcheck.Check(t)
	py, _ := realNotifiers(t)
	r := fdwire(t, "", "-e", "local py = "+strconv.Quote(py)+`
		local p = proc.spawn{"systemd-notify", "--ready", "--status=nobody here", notify = true, uid = 65534, gid = 65534}
		local st = p:ready{timeout = 20}
		assert(st.ready and st.status == "nobody here", tostring(st.status))
		p:wait{timeout = 20}
		-- A stranger with another uid can reach the socket (it is 0777) but
		-- does not speak for the child: READY=1 from it is dropped.
		local s = proc.spawn{"sleep", "30", notify = true}
		local env = io.open("/proc/" .. s:pid() .. "/environ"):read("*a")
		local path = env:match("NOTIFY_SOCKET=([^%z]+)")
		local h = proc.spawn{"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "systemd-notify", "--ready",
			env_add = {"NOTIFY_SOCKET=" .. path}}
		assert(h:wait{timeout = 20} == 0)
		local n
		for _ = 1, 500 do
			n = s:notices()
			if n.dropped > 0 then break end
			task.sleep(0.01)
		end
		assert(n.dropped >= 1 and not n.ready and n.log[1]:find("^dropped pid %d+: not the child"), n.log[1])
		local ok, e = pcall(s.ready, s, {timeout = 0})
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
		s:kill()
		s:wait()
		-- The child stores its descriptor only after :ready() has returned
		-- (it waits for a byte on stdin): :ready() hands out what was stored
		-- before it looked, so without the gate a child that had sent
		-- everything by then (a loaded machine) left :fdstore() nothing.
		local q = proc.spawn{py, "-c", [[
import os, sys, socket, systemd.daemon as d
d.notify('READY=1')
for i in range(200): d.notify('STATUS=%d' % i)
sys.stdin.buffer.read(1)
r, w = os.pipe()
os.write(w, b'kept\n')
d.notify('FDSTORE=1\nFDNAME=late', fds=[r])
]], notify = true, stdin = "pipe"}
		local st = q:ready{timeout = 20}
		assert(#st.fds == 0, "stored before the gate opened")
		q:stdin():write("x")
		q:stdin():close()
		local code = q:wait{timeout = 20}
		assert(code == 0, "the chatty child: " .. tostring(code))
		local n = q:notices()
		assert(n.status == "199" and n.messages == 202 and n.stored == 1, n.status .. " " .. n.messages .. " " .. n.stored)
		local fds, names = q:fdstore()
		assert(#fds == 1 and names[1] == "late" and fds[1]:read() == "kept\n")
		fds[1]:close()
		print("ok")
	`)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Fatalf("%+v", r)
	}
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	var ma, mi int
	fmt.Sscanf(string(b), "%d.%d", &ma, &mi)
	return ma > major || (ma == major && mi >= minor)
}
