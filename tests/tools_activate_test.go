package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// activation is one command line given to both activators.
type activation struct {
	name    string
	args    []string // before COMMAND; {S1} {S2} {S3} {PORT} {ABS} are filled in
	trigger string   // how to wake it: stream:S1, dgram:S1, seqpacket:S1, tcp4, tcp6, abstract
	accept  bool     // the activator keeps running: stopped once the report is written
	umask   string
	outer   bool // run under an outer systemd-socket-activate, whose socket is inherited
	dashes  bool // COMMAND after "--"
}

var activations = []activation{
	{name: "one path", args: []string{"-l", "{S1}"}, trigger: "stream:{S1}"},
	{name: "two paths", args: []string{"-l", "{S1}", "-l", "{S2}"}, trigger: "stream:{S2}"},
	{name: "port dual-stack", args: []string{"-l", "{PORT}"}, trigger: "tcp4"},
	{name: "ipv4 host:port", args: []string{"-l", "127.0.0.1:{PORT}"}, trigger: "tcp4"},
	{name: "ipv6 [host]:port", args: []string{"-l", "[::1]:{PORT}"}, trigger: "tcp6"},
	{name: "abstract", args: []string{"-l", "@{ABS}"}, trigger: "abstract"},
	{name: "one name", args: []string{"-l", "{S1}", "--fdname", "a"}, trigger: "stream:{S1}"},
	{name: "one name, two sockets", args: []string{"-l", "{S1}", "-l", "{S2}", "--fdname", "a"}, trigger: "stream:{S1}"},
	{name: "names a:b", args: []string{"-l", "{S1}", "-l", "{S2}", "--fdname", "a:b"}, trigger: "stream:{S1}"},
	{name: "names repeated", args: []string{"-l", "{S1}", "-l", "{S2}", "--fdname=a", "--fdname", "b"}, trigger: "stream:{S1}"},
	{name: "fewer names than sockets", args: []string{"-l", "{S1}", "-l", "{S2}", "-l", "{S3}", "--fdname", "a:b"}, trigger: "stream:{S1}"},
	{name: "-E set variable", args: []string{"-E", "FOO", "-l", "{S1}"}, trigger: "stream:{S1}"},
	{name: "-E unset variable", args: []string{"-E", "UNSET_VAR", "-l", "{S1}"}, trigger: "stream:{S1}"},
	{name: "-E VAR=VALUE", args: []string{"--setenv=BAZ=qux", "-E", "FOO=over", "-l", "{S1}"}, trigger: "stream:{S1}"},
	{name: "datagram", args: []string{"-d", "-l", "{S1}"}, trigger: "dgram:{S1}"},
	{name: "seqpacket", args: []string{"--seqpacket", "-l", "{S1}"}, trigger: "seqpacket:{S1}"},
	{name: "accept", args: []string{"-a", "-l", "{S1}"}, trigger: "stream:{S1}", accept: true},
	{name: "accept with a name", args: []string{"--accept", "-l", "{S1}", "--fdname", "conn1"}, trigger: "stream:{S1}", accept: true},
	{name: "accept inetd", args: []string{"-a", "--inetd", "-l", "{S1}", "-E", "FOO"}, trigger: "stream:{S1}", accept: true},
	{name: "umask 027 and --", args: []string{"-l", "{S1}"}, trigger: "stream:{S1}", umask: "027", dashes: true},
	{name: "inherited LISTEN_FDS", args: []string{"-l", "{S1}", "--fdname", "mine"}, trigger: "stream:{S1}", outer: true},
}

// deliberate are the differences docs/tools.md lists under "coming from
// systemd-socket-activate"; each rule names the text that must be there.
var deliberate = []struct {
	doc  string
	drop func(sd, fw map[string]string, key, fwVal string, c activation) bool
}{
	// fdwire sets LISTEN_PIDFDID (as systemd 254 and newer do).
	{"LISTEN_PIDFDID", func(sd, fw map[string]string, key, v string, c activation) bool { return key == "env LISTEN_PIDFDID" }},
	// socket files: 0666 minus the umask (systemd 252: always 0644).
	{"0666 minus the umask", func(sd, fw map[string]string, key, v string, c activation) bool {
		var um uint32
		if c.umask == "" {
			return false
		}
		fmt.Sscanf(c.umask, "%o", &um)
		want := fmt.Sprintf(" mode=%o", 0o666&^um)
		re := regexp.MustCompile(` mode=[0-7]+`)
		return strings.Contains(v, want) && re.ReplaceAllString(v, "") == re.ReplaceAllString(sd[key], "")
	}},
	// no --fdname: fdwire names each socket "unknown" (what
	// sd_listen_fds_with_names reports for unnamed ones), or the
	// connection "connection" in --accept mode (as an Accept=yes unit).
	{"LISTEN_FDNAMES=unknown", func(sd, fw map[string]string, key, v string, c activation) bool {
		_, had := sd["env LISTEN_FDNAMES"]
		return key == "env LISTEN_FDNAMES" && !had && regexp.MustCompile(`^(unknown)(:unknown)*$|^connection$`).MatchString(v)
	}},
	// fewer names than sockets: fdwire completes the list with "unknown".
	{"completes the list with `unknown`", func(sd, fw map[string]string, key, v string, c activation) bool {
		s, had := sd["env LISTEN_FDNAMES"]
		return key == "env LISTEN_FDNAMES" && had && regexp.MustCompile(`^`+regexp.QuoteMeta(s)+`(:unknown)+$`).MatchString(v)
	}},
}

func activationReport(t *testing.T, c activation, activator []string, vars map[string]string, report string) string {
	t.Helper()
	fill := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	argv := []string{"sh", "-c", "umask " + c.umask + "; exec \"$@\"", "sh"}
	if c.umask == "" {
		argv[2] = `exec "$@"`
	}
	if c.outer {
		argv = append(argv, "systemd-socket-activate", "-l", vars["OUTER"], "--fdname", "outer")
	}
	argv = append(argv, activator...)
	for _, a := range c.args {
		argv = append(argv, fill(a))
	}
	if c.dashes {
		argv = append(argv, "--")
	}
	argv = append(argv, "/usr/bin/python3", filepath.Join(repoRoot, "tests", "testdata", "activation-report.py"), report)
	for _, k := range []string{"S1", "S2", "S3", "OUTER"} {
		os.Remove(vars[k])
	}
	os.Remove(report)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/root", "TERM=dumb", "USER=root", "FOO=foo", "LANG=C"}
	p := &toolProc{done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	defer func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
		}
	}()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func(network, addr string) {
		for i := 0; i < 1000; i++ {
			c, err := net.Dial(network, addr)
			if err == nil {
				if network == "unixgram" {
					c.Write([]byte("x"))
				}
				held = append(held, c)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s: cannot reach %s %s; stderr %s", c.name, network, addr, p.Stderr())
	}
	if c.outer {
		dial("unix", vars["OUTER"])
	}
	switch tr := fill(c.trigger); {
	case strings.HasPrefix(tr, "stream:"):
		dial("unix", strings.TrimPrefix(tr, "stream:"))
	case strings.HasPrefix(tr, "seqpacket:"):
		dial("unixpacket", strings.TrimPrefix(tr, "seqpacket:"))
	case strings.HasPrefix(tr, "dgram:"):
		dial("unixgram", strings.TrimPrefix(tr, "dgram:"))
	case tr == "tcp4":
		dial("tcp4", "127.0.0.1:"+vars["PORT"])
	case tr == "tcp6":
		dial("tcp6", "[::1]:"+vars["PORT"])
	case tr == "abstract":
		dial("unix", "@"+vars["ABS"])
	}
	if c.accept {
		eventually(t, c.name+" report", func() bool {
			b, err := os.ReadFile(report)
			return err == nil && strings.HasSuffix(string(b), "\n")
		})
		if activator[0] == "systemd-socket-activate" {
			// Let it reap its child first: killed before, it would leave us
			// the zombie.
			eventually(t, "systemd-socket-activate to reap", func() bool { return strings.Contains(p.Stderr(), "died with code") })
		}
	} else {
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: %v did not end; stderr %s", c.name, activator, p.Stderr())
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("%s: no report from %v: %v; stderr %s", c.name, activator, err, p.Stderr())
	}
	return string(b)
}

func reportMap(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		k, v := l, ""
		if strings.HasPrefix(l, "env ") {
			if i := strings.IndexByte(l, '='); i > 0 {
				k, v = l[:i], l[i+1:]
			}
		} else if f := strings.Fields(l); len(f) > 2 {
			k, v = f[0]+" "+f[1], strings.Join(f[2:], " ")
		}
		m[k] = v
	}
	return m
}

// For the same command lines, the program started by fdwire activate sees
// what systemd-socket-activate's sees, except for the differences
// docs/tools.md lists as deliberate.
func TestToolActivateMatchesSystemd(t *testing.T) {
	leakcheck.Check(t)
	if _, err := exec.LookPath("systemd-socket-activate"); err != nil {
		t.Skip("systemd-socket-activate (Debian package systemd) is missing; .ci/run installs it")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("/usr/bin/python3 is missing; .ci/run installs python3")
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "tools.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deliberate {
		if !strings.Contains(string(doc), d.doc) {
			t.Errorf("docs/tools.md does not list the deliberate difference %q", d.doc)
		}
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	for i, c := range activations {
		vars := map[string]string{
			"S1": filepath.Join(dir, "s1"), "S2": filepath.Join(dir, "s2"), "S3": filepath.Join(dir, "s3"),
			"OUTER": filepath.Join(dir, "outer"), "PORT": fmt.Sprint(freePort(t)),
			"ABS": fmt.Sprintf("fdwire-act-%d-%d", os.Getpid(), i),
		}
		report := filepath.Join(dir, "report")
		sd := activationReport(t, c, []string{"systemd-socket-activate"}, vars, report)
		fw := activationReport(t, c, []string{fdwireBin, "activate"}, vars, report)
		sm, fm := reportMap(sd), reportMap(fw)
		var diffs []string
		for k, v := range fm {
			if sv, ok := sm[k]; ok && sv == v {
				continue
			}
			ok := false
			for _, d := range deliberate {
				if d.drop(sm, fm, k, v, c) {
					ok = true
					break
				}
			}
			if !ok {
				diffs = append(diffs, fmt.Sprintf("fdwire %s=%q, systemd %q", k, v, sm[k]))
			}
		}
		for k, v := range sm {
			if _, ok := fm[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("systemd only %s=%q", k, v))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			t.Errorf("%s: differences not listed as deliberate:\n  %s\nsystemd:\n%s\nfdwire:\n%s", c.name, strings.Join(diffs, "\n  "), sd, fw)
		}
	}
}

// Without --accept the socket file stays while COMMAND runs (a second
// client reaches it too), every catchable signal reaches COMMAND, and
// activate exits with COMMAND's status; the file goes afterwards.
func TestToolActivateProcessModel(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "svc.sock")
	svc := `
import signal, socket, sys, os
got = []
def on(n, f): got.append(signal.Signals(n).name); print(signal.Signals(n).name, flush=True)
signal.signal(signal.SIGUSR1, on)
signal.signal(signal.SIGHUP, lambda n, f: (print("HUP", flush=True), sys.exit(7)))
s = socket.socket(fileno=3)
for i in range(2):
    c, _ = s.accept()
    c.sendall(b"conn %d\n" % i)
    c.close()
print("served", flush=True)
while True:
    signal.pause()
`
	act := toolStart(t, env, nil, "activate", "--socket-mode", "0660", "-l", sockPath, "/usr/bin/python3", "-c", svc)
	eventually(t, "the socket", func() bool { return pathExists(sockPath) })
	if st, _ := os.Stat(sockPath); st.Mode().Perm() != 0o660 {
		t.Errorf("--socket-mode 0660 made %o", st.Mode().Perm())
	}
	for i := 0; i < 2; i++ {
		var c net.Conn
		eventually(t, "listening", func() bool {
			var err error
			c, err = net.Dial("unix", sockPath)
			return err == nil
		})
		b := make([]byte, 64)
		n, _ := c.Read(b)
		c.Close()
		if string(b[:n]) != fmt.Sprintf("conn %d\n", i) {
			t.Fatalf("client %d got %q", i, b[:n])
		}
	}
	eventually(t, "served", func() bool { return strings.Contains(act.Stdout(), "served") })
	if !pathExists(sockPath) {
		t.Error("the socket file went while COMMAND runs")
	}
	act.cmd.Process.Signal(syscall.SIGUSR1)
	eventually(t, "USR1 forwarded", func() bool { return strings.Contains(act.Stdout(), "SIGUSR1") })
	act.cmd.Process.Signal(syscall.SIGHUP)
	if code := act.wait(t); code != 7 || !strings.Contains(act.Stdout(), "HUP") {
		t.Fatalf("activate after HUP: exit %d, stdout %q, stderr %s", code, act.Stdout(), act.Stderr())
	}
	if pathExists(sockPath) {
		t.Error("socket file left after COMMAND ended")
	}
	if r := toolRun(t, env, "", nil, "activate", "--version"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "fdwire activate (fdwire ") {
		t.Errorf("--version: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "activate", "-l", sockPath, "--fdname", "a:b", "true"); r.Code != 2 || !strings.Contains(r.Stderr, "1 sockets but 2 names") {
		t.Errorf("more names than sockets: %+v", r)
	}
	if r := toolRun(t, env, "", nil, "activate", "--socket-mode", "0999", "-l", sockPath, "true"); r.Code != 2 {
		t.Errorf("bad --socket-mode: %+v", r)
	}
	// A signal before COMMAND starts ends activate, and the file goes.
	act = toolStart(t, env, nil, "activate", "-l", sockPath, "true")
	eventually(t, "the socket", func() bool { return pathExists(sockPath) })
	act.cmd.Process.Signal(syscall.SIGTERM)
	if code := act.wait(t); code != 143 || pathExists(sockPath) {
		t.Errorf("SIGTERM before COMMAND: exit %d, file left %v; %s", code, pathExists(sockPath), act.Stderr())
	}
}

// procState is the one-letter state of pid in /proc/PID/stat.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// TSTP reaches COMMAND and stops activate too; CONT resumes both.
func TestToolActivateJobControl(t *testing.T) {
	leakcheck.Check(t)
	env, _ := toolEnv(t)
	sockPath := filepath.Join(t.TempDir(), "jc.sock")
	// activate leads a process group of its own, as a shell's job would:
	// the kernel discards TSTP sent to a member of an orphaned process
	// group, and the test's own group is orphaned whenever go test runs
	// as a session leader or under a shell without job control (CI).
	jobOfItsOwn := func(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
	act := toolStart(t, env, jobOfItsOwn, "activate", "--now", "-l", sockPath, "sh", "-c", "echo $$; exec sleep 30")
	eventually(t, "COMMAND", func() bool { return strings.Contains(act.Stdout(), "\n") })
	var child int
	fmt.Sscan(act.Stdout(), &child)
	eventually(t, "sleep", func() bool { return procState(child) == "S" })
	act.cmd.Process.Signal(syscall.SIGTSTP)
	eventually(t, "both stopped", func() bool { return procState(child) == "T" && procState(act.cmd.Process.Pid) == "T" })
	act.cmd.Process.Signal(syscall.SIGCONT)
	eventually(t, "both running", func() bool {
		return procState(child) == "S" && procState(act.cmd.Process.Pid) != "T"
	})
	act.cmd.Process.Signal(syscall.SIGTERM)
	if code := act.wait(t); code != 143 {
		t.Fatalf("activate after TERM: %d %s", code, act.Stderr())
	}
}
