package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// The holder against hostile peers and large states.

// holdFiles stores n files (content "held-I\n") in the holder at name
// from one fdwire process, under ids f/I.
const holdStoreFiles = `
local holder = require "fdwire.holder"
local name, dir, n = arg[1], arg[2], tonumber(arg[3])
for i = 1, n do
	local p = dir .. "/f" .. i
	local w = fd.open(p, "w")
	w:write("held-" .. i .. "\n")
	w:close()
	local r = fd.open(p, "r")
	holder.store(name, "f/" .. i, r, { wait = true })
	r:close()
end
`

// holdCheckFiles retrieves f/1..f/n and checks each one's content: the
// same open file description (offset 0: nobody read it yet).
const holdCheckFiles = `
local holder = require "fdwire.holder"
local name, n = arg[1], tonumber(arg[2])
local ok = 0
for i = 1, n do
	local h = holder.retrieve(name, "f/" .. i, { timeout = 20 })
	local got = h:read(100)
	h:close()
	assert(got == "held-" .. i .. "\n", "f/" .. i .. " holds " .. tostring(got))
	ok = ok + 1
end
print(ok .. " intact")
`

// hold is flooded by uid 65534 with idle connections (first with a rule
// that lets it list, so it is admitted up to --max-conn-per-uid; then
// without any rule, closed at accept) and still serves every held
// descriptor intact to root.
func TestToolHoldFloodFromOtherUid(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-flood-%d", os.Getpid())
	rules := filepath.Join(t.TempDir(), "rules")
	os.WriteFile(rules, []byte("allow uid:0 * *\nallow uid:65534 list public/*\n"), 0o644)
	hold := toolStart(t, env, nil, "hold", "--rules", rules, "--client-timeout", "30", name)
	dir := t.TempDir()
	const n = 40
	if r := toolRun(t, env, "", nil, "-e", holdStoreFiles, name, dir, strconv.Itoa(n)); r.Code != 0 {
		t.Fatalf("store: %+v", r)
	}
	flood := `
local name, n = arg[1], tonumber(arg[2])
local conns, failed = {}, 0
for i = 1, n do
	local ok, c = pcall(sock.connect, "seqpacket", name, { timeout = 2 })
	if ok then conns[#conns + 1] = c else failed = failed + 1 end
end
print("open " .. #conns .. " failed " .. failed)
io.stdout:flush()
task.sleep(60)
`
	fl := nobodyStart(t, env, "-e", flood, name, "2000")
	eventually(t, "the flood", func() bool { return strings.Contains(fl.Stdout(), "open ") })
	// The flood is open and idle: every held descriptor still comes back.
	r := toolRun(t, env, "", nil, "-e", holdCheckFiles, name, strconv.Itoa(n))
	if r.Code != 0 || r.Stdout != fmt.Sprintf("%d intact\n", n) {
		t.Fatalf("retrieve under flood: %+v\nholder: %s", r, hold.Stderr())
	}
	if !strings.Contains(hold.Stderr(), "too many clients of uid 65534 (8; --max-conn-per-uid)") {
		t.Errorf("per-uid cap not logged: %s", hold.Stderr())
	}
	fl.cmd.Process.Kill()
	fl.wait(t)

	// No rule for uid 65534 at all: closed at accept.
	name2 := name + "-norule"
	hold2 := toolStart(t, env, nil, "hold", name2)
	if r := toolRun(t, env, "", nil, "-e", holdStoreFiles, name2, dir, "3"); r.Code != 0 {
		t.Fatalf("store: %+v", r)
	}
	fl = nobodyStart(t, env, "-e", flood, name2, "2000")
	eventually(t, "the flood", func() bool { return strings.Contains(fl.Stdout(), "open ") })
	if r := toolRun(t, env, "", nil, "-e", holdCheckFiles, name2, "3"); r.Code != 0 {
		t.Fatalf("retrieve under flood without a rule: %+v\nholder: %s", r, hold2.Stderr())
	}
	if !strings.Contains(hold2.Stderr(), "no rule allows uid 65534 gid 65534 anything") {
		t.Errorf("refusal not logged: %s", hold2.Stderr())
	}
	fl.cmd.Process.Kill()
	fl.wait(t)
	// The other uid is told, too: its request fails with status 4.
	if r := nobodyRun(t, env, "hold-list", name2); r.Code != 4 || !strings.Contains(r.Stderr, "EACCES") {
		t.Errorf("hold-list as 65534: %+v", r)
	}
}

// An accept error (EMFILE: the holder's descriptor limit is lowered below
// what it has open) is logged and survived; once the limit is raised the
// waiting client is served and nothing held was lost.
func TestToolHoldSurvivesEMFILE(t *testing.T) {
	leakcheck.Check(t)
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is missing; .ci/run installs util-linux")
	}
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-emfile-%d", os.Getpid())
	hold := toolStart(t, env, nil, "hold", name)
	dir := t.TempDir()
	if r := toolRun(t, env, "", nil, "-e", holdStoreFiles, name, dir, "5"); r.Code != 0 {
		t.Fatalf("store: %+v", r)
	}
	// A client already connected when the table fills: its store is
	// answered with an error, and nothing is stored.
	early := `
local c = sock.connect("seqpacket", arg[1])
-- A first request answered: the holder has accepted this connection
-- (connect returns once it is queued), so its descriptor is counted
-- below; accepted later, the lowered limit would refuse the accept.
sock.sendfds(c, {}, "list")
repeat local _, d = sock.recvfds(c, { max = 0, timeout = 20 }) until d:sub(1, 3) == "ok\0"
print("connected")
io.stdout:flush()
io.read("*l")
local r = fd.open("/dev/null", "r")
sock.sendfds(c, { r }, "store\0late\0")
local _, data = sock.recvfds(c, { max = 1, timeout = 20 })
print((data:gsub("%z", " ")))
io.stdout:flush()
io.read("*l") -- stays connected: the table stays full
`
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	client := toolStart(t, env, func(c *exec.Cmd) { c.Stdin = pr }, "-e", early, name)
	eventually(t, "the early client", func() bool { return strings.Contains(client.Stdout(), "connected") })
	// Only the soft limit moves (raising a hard limit needs
	// CAP_SYS_RESOURCE). Set to the lowest free descriptor number, it
	// leaves the holder no new descriptor at all (and is still above the
	// number of descriptors its poller watches).
	pid := strconv.Itoa(hold.cmd.Process.Pid)
	entries, _ := os.ReadDir("/proc/" + pid + "/fd")
	open := map[int]bool{}
	for _, e := range entries {
		n, _ := strconv.Atoi(e.Name())
		open[n] = true
	}
	free := 0
	for open[free] {
		free++
	}
	if out, err := exec.Command("prlimit", "--pid", pid, fmt.Sprintf("--nofile=%d:", free)).CombinedOutput(); err != nil {
		_, perr := os.Stat("/proc/" + pid)
		select {
		case <-hold.done:
			t.Logf("hold exited %d", hold.code)
		default:
		}
		t.Fatalf("prlimit %s: %v %s (%v); holder: %s; client %s", pid, err, out, perr, hold.Stderr(), client.Stderr())
	}
	pw.Write([]byte("go\n"))
	eventually(t, "the early client's answer", func() bool { return strings.Contains(client.Stdout(), "err ") })
	if !strings.Contains(client.Stdout(), "err EMFILE the holder is out of descriptors: nothing was stored") {
		t.Errorf("store while the table is full: %q %s; holder %s", client.Stdout(), client.Stderr(), hold.Stderr())
	}
	list := toolStart(t, env, nil, "hold-list", "--timeout", "30", name)
	eventually(t, "accept's EMFILE logged", func() bool { return strings.Contains(hold.Stderr(), "accept: ") })
	pw.Write([]byte("done\n"))
	if code := client.wait(t); code != 0 {
		t.Errorf("early client: exit %d %s", code, client.Stderr())
	}
	if out, err := exec.Command("prlimit", "--pid", pid, "--nofile=1024:").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v %s; holder %s", err, out, hold.Stderr())
	}
	if code := list.wait(t); code != 0 || len(strings.Fields(list.Stdout())) != 5 {
		t.Fatalf("hold-list after EMFILE: exit %d %q %s", code, list.Stdout(), list.Stderr())
	}
	if !strings.Contains(hold.Stderr(), "accept works again") {
		t.Errorf("recovery not logged: %s", hold.Stderr())
	}
	if r := toolRun(t, env, "", nil, "-e", holdCheckFiles, name, "5"); r.Code != 0 {
		t.Fatalf("retrieve after EMFILE: %+v", r)
	}
}

// A list of any size arrives whole: 5,000 identifiers of 255 bytes.
func TestToolHoldListWhole(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-biglist-%d", os.Getpid())
	toolStart(t, env, nil, "hold", "--max", "6000", name)
	fill := `
local holder = require "fdwire.holder"
local r, w = fd.pipe()
for i = 1, 5000 do
	holder.store(arg[1], string.format("%05d", i) .. string.rep("x", 250), r, { wait = true })
end
local ids = holder.list(arg[1])
assert(#ids == 5000, #ids .. " ids")
for i, id in ipairs(ids) do assert(#id == 255 and tonumber(id:sub(1, 5)) == i, id) end
print("ok")
`
	if r := toolRun(t, env, "", nil, "-e", fill, name); r.Code != 0 || r.Stdout != "ok\n" {
		t.Fatalf("fill and list in Lua: %+v", r)
	}
	r := toolRun(t, env, "", nil, "hold-list", name)
	lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	if r.Code != 0 || len(lines) != 5000 {
		t.Fatalf("hold-list: exit %d, %d lines, stderr %s", r.Code, len(lines), r.Stderr)
	}
	for i, l := range lines {
		if len(l) != 255 || l[:5] != fmt.Sprintf("%05d", i+1) {
			t.Fatalf("line %d is %q", i+1, l)
		}
	}
}

// Re-storing an id is EBUSY unless --replace; list and dump without a
// rule for them are EPERM; readiness on --ready-fd and NOTIFY_SOCKET.
func TestToolHoldBusyPermReady(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-busy-%d", os.Getpid())
	rules := filepath.Join(t.TempDir(), "rules")
	os.WriteFile(rules, []byte("allow uid:0 store,retrieve,delete *\n"), 0o644)
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	hold := toolStart(t, env, func(c *exec.Cmd) { c.ExtraFiles = []*os.File{wr} }, "hold", "--ready-fd", "3", "--rules", rules, name)
	wr.Close()
	buf := make([]byte, 1)
	if n, err := rd.Read(buf); n != 1 || buf[0] != '\n' {
		t.Fatalf("readiness: %d %v; %s", n, err, hold.Stderr())
	}
	f, _ := os.Open("/dev/null")
	defer f.Close()
	withFile := func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f} }
	if r := toolRun(t, env, "", withFile, "hold-store", "-f", "3", name, "id"); r.Code != 0 {
		t.Fatalf("store: %+v", r)
	}
	if r := toolRun(t, env, "", withFile, "hold-store", "-f", "3", name, "id"); r.Code != 1 || !strings.Contains(r.Stderr, "EBUSY") {
		t.Fatalf("store again: %+v", r)
	}
	if r := toolRun(t, env, "", withFile, "hold-store", "--replace", "-f", "3", name, "id"); r.Code != 0 {
		t.Fatalf("store --replace: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-list", name); r.Code != 4 || !strings.Contains(r.Stderr, "EPERM") {
		t.Fatalf("list without a list rule: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold-transfer", name, name+"-x"); r.Code != 4 || !strings.Contains(r.Stderr, "EPERM") {
		t.Fatalf("dump without a dump rule: %+v", r)
	}
	// An idle client is dropped after --client-timeout.
	idleName := name + "-idle"
	toolStart(t, env, nil, "hold", "--client-timeout", "0.3", idleName)
	idle := `
local c = sock.connect("seqpacket", arg[1], { timeout = 10 })
while true do
	local ok, fds, data = pcall(sock.recvfds, c, { timeout = 20 })
	if ok and not data then print("dropped") break end
	if not ok then error(fds, 0) end
end
`
	if r := toolRun(t, env, "", nil, "-e", `
for i = 1, 200 do
	if pcall(sock.connect, "seqpacket", arg[1]) then return end
	task.sleep(0.05)
end`, idleName); r.Code != 0 {
		t.Fatalf("idle holder not up: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "-e", idle, idleName); r.Code != 0 || r.Stdout != "dropped\n" {
		t.Errorf("idle client: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "hold", "--client-timeout", "0", "@x"); r.Code != 2 || !strings.Contains(r.Stderr, "more than 0") {
		t.Errorf("--client-timeout 0: %+v", r)
	}
	// --notify: READY=1 on $NOTIFY_SOCKET.
	notify := fmt.Sprintf("@fdwire-notify-%d", os.Getpid())
	ns, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ns)
	if err := syscall.Bind(ns, &syscall.SockaddrUnix{Name: notify}); err != nil {
		t.Fatal(err)
	}
	toolStart(t, append(env, "NOTIFY_SOCKET="+notify), nil, "hold", "--notify", name+"-n")
	msg := make([]byte, 64)
	n, _, err := syscall.Recvfrom(ns, msg, 0)
	if err != nil || string(msg[:n]) != "READY=1" {
		t.Fatalf("notify: %q %v", msg[:n], err)
	}
	if r := toolRun(t, env, "", nil, "hold", "--ready-fd", "9", name+"-r"); r.Code != 2 || !strings.Contains(r.Stderr, "not open") {
		t.Fatalf("--ready-fd of a closed descriptor: %+v", r)
	}
}

// SIGTERM makes the holder a lame duck: no new clients, but a dump in
// flight is finished (up to --lameduck) before it exits 143.
func TestToolHoldLameduck(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-lame-%d", os.Getpid())
	hold := toolStart(t, env, nil, "hold", "--lameduck", "30", "--max", "2000", name)
	fill := `
local holder = require "fdwire.holder"
local r = fd.open("/dev/null", "r")
for i = 1, 1500 do holder.store(arg[1], "id" .. i, r, { wait = true }) end
print("stored")
`
	if r := toolRun(t, env, "", nil, "-e", fill, name); r.Code != 0 {
		t.Fatalf("fill: %+v", r)
	}
	// A slow client: one message of the dump, then it waits for stdin.
	slow := `
local c = sock.connect("seqpacket", arg[1])
sock.sendfds(c, {}, "dump")
local n = 0
local fds, data = sock.recvfds(c, { max = 1 })
for _, h in ipairs(fds) do h:close() end
n = n + 1
print("started")
io.stdout:flush()
io.read("*l")
while true do
	fds, data = sock.recvfds(c, { max = 1, timeout = 20 })
	for _, h in ipairs(fds) do h:close() end
	if not data or data:sub(1, 2) == "ok" then break end
	n = n + 1
end
print(n .. " " .. tostring(data and data:gsub("%z", " ")))
`
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	client := toolStart(t, env, func(c *exec.Cmd) { c.Stdin = pr }, "-e", slow, name)
	eventually(t, "the dump to start", func() bool { return strings.Contains(client.Stdout(), "started") })
	hold.cmd.Process.Signal(syscall.SIGTERM)
	eventually(t, "lame duck", func() bool { return strings.Contains(hold.Stderr(), "lame duck") })
	if r := toolRun(t, env, "", nil, "hold-list", name); r.Code != 3 {
		t.Errorf("a new client during the lame-duck period: %+v", r)
	}
	pw.Write([]byte("go\n"))
	if code := client.wait(t); code != 0 || client.Stdout() != "started\n1500 ok 1500\n" {
		t.Fatalf("slow client: exit %d %q %s", code, client.Stdout(), client.Stderr())
	}
	if code := hold.wait(t); code != 143 {
		t.Fatalf("hold exit %d: %s", code, hold.Stderr())
	}
}

// --user: root binds, then the holder runs as uid 65534 and still serves
// root (the default rules name the uid that started it).
func TestToolHoldUser(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	name := fmt.Sprintf("@fdwire-holduser-%d", os.Getpid())
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	hold := toolStart(t, env, func(c *exec.Cmd) { c.ExtraFiles = []*os.File{wr} }, "hold", "--user", "65534", "--ready-fd", "3", name)
	wr.Close()
	if _, err := rd.Read(make([]byte, 1)); err != nil {
		t.Fatalf("readiness: %v; %s", err, hold.Stderr())
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", hold.cmd.Process.Pid))
	if !regexp.MustCompile(`(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$`).Match(status) {
		t.Errorf("hold --user 65534 still has other uids:\n%s", status)
	}
	dir := t.TempDir()
	if r := toolRun(t, env, "", nil, "-e", holdStoreFiles, name, dir, "2"); r.Code != 0 {
		t.Fatalf("store: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "-e", holdCheckFiles, name, "2"); r.Code != 0 {
		t.Fatalf("retrieve: %+v", r)
	}
	// A socket file 65534 could not remove at the end is refused.
	if r := toolRun(t, env, "", nil, "hold", "--user", "65534", "pathsock"); r.Code != 1 || !strings.Contains(r.Stderr, "could not remove") {
		t.Errorf("--user with a socket file in root's directory: %+v", r)
	}
	// uid 65534 itself is not in the default rules.
	if r := nobodyRun(t, env, "hold-list", name); r.Code != 4 {
		t.Errorf("hold-list as 65534: %+v", r)
	}
}
