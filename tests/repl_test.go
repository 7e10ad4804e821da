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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptySession is fdwire running on a real pseudo-terminal, driven as a
// person would: keys in, screen bytes out.
type ptySession struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	mu     sync.Mutex
	screen bytes.Buffer
	mark   int
	exited chan struct{}
	err    error
	synced int
}

// openPTY opens a pseudo-terminal pair through /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pts: %v", err)
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 160})
	return m, s
}

// startREPL runs "fdwire args..." with the terminal as its controlling
// tty and stdin/stdout/stderr, its history under stateDir.
func startREPL(t *testing.T, stateDir string, args ...string) *ptySession {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(fdwireBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+stateDir, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		slave.Close()
		t.Fatal(err)
	}
	slave.Close()
	p := &ptySession{t: t, cmd: cmd, master: master, exited: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.screen.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return // EIO once fdwire and its children closed the tty
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		master.Close()
	})
	p.expect("> ")
	return p
}

func (p *ptySession) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.screen.String()
}

// send types keys; line types a line and Enter (the tty's CR).
func (p *ptySession) send(keys string) {
	p.t.Helper()
	p.mu.Lock()
	p.mark = p.screen.Len()
	p.mu.Unlock()
	if _, err := p.master.Write([]byte(keys)); err != nil {
		p.t.Fatalf("typing %q: %v", keys, err)
	}
}

func (p *ptySession) line(s string) { p.t.Helper(); p.send(s + "\r") }

// expect waits until the screen, since the last keys were typed, shows
// want (a generous bound: the machine may be busy).
func (p *ptySession) expect(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.String()[p.mark:]
		if i := strings.Index(s, want); i >= 0 {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal never showed %q; it shows:\n%q", want, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle runs a statement with a known output and waits for the prompt
// after it, so that the next keys reach readline (raw mode), not a
// statement that still runs (cooked mode: ^C, ^D mean something else).
func (p *ptySession) settle() {
	p.t.Helper()
	p.synced++
	p.line(fmt.Sprintf(`print("settled" .. %d)`, p.synced))
	want := fmt.Sprintf("settled%d\r\n", p.synced)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.String()[p.mark:]
		if i := strings.Index(s, want); i >= 0 && strings.Contains(s[i:], "> ") {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no prompt after %q; the terminal shows:\n%q", want, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectRe is expect for a pattern; it returns the first submatch.
func (p *ptySession) expectRe(re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := rx.FindStringSubmatch(p.String()[p.mark:]); m != nil {
			return m[len(m)-1]
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal never matched %q; it shows:\n%q", re, p.String()[p.mark:])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitExit waits for fdwire to end and returns its exit status.
func (p *ptySession) waitExit() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("fdwire did not exit; screen:\n%q", p.String())
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

func TestREPLOnATerminal(t *testing.T) {
	state := t.TempDir()
	p := startREPL(t, state) // no arguments on a terminal: the REPL
	// A one-line banner: the version, and where help is.
	if s := p.String(); !regexp.MustCompile(`^fdwire \S+ \(Lua 5\.1, gopher-lua\): :help for .*Ctrl-D to leave\r\n`).MatchString(s) {
		t.Errorf("banner: %q", s)
	}

	// An expression prints its value.
	p.line("40 + 2")
	p.expect("42\r\n")

	// A multi-line function definition.
	p.line("function twice(x)")
	p.expect(">> ")
	p.line("  return x * 2")
	p.expect(">> ")
	p.line("end")
	p.expect("> ")
	p.line("twice(21)")
	p.expect("42\r\n")

	// An error does not end the session, and state survives it.
	p.line("error('boom')")
	p.expect("stdin:1: boom")
	p.line("sock.connect('@fdwire-repl-e2e-none')")
	p.expect("ECONNREFUSED")
	p.line("twice(4)")
	p.expect("8\r\n")

	// Completion: a module's fields, a handle's methods, a path.
	p.send("sock.listen_\t")
	p.expect("listen_on")
	p.send("\x15") // Ctrl-U: clear the line
	p.line(`l = sock.listen_on("@")`)
	p.settle()
	p.send("l:clo\t\t")
	p.expect("closed")
	p.send("\x15")
	p.send("fd.open(\"/etc/host\t")
	p.expect("hostname")
	p.send("\x15")
	if fdwire(t, "", "-e", "assert(sock.bind_anon)").Code == 0 {
		p.send("sock.bind_\t\t")
		p.expect("bind_anon")
		p.send("\x15")
	} else {
		t.Log("sock.bind_anon is not in this build; its completion is not checked")
	}

	// Ctrl-C interrupts the running statement, not the session.
	p.line(`print("sleep" .. "ing") task.sleep(60)`)
	p.expect("sleeping\r\n")
	p.send("\x03")
	p.expect("interrupt: EINTR")
	p.line("1 + 1")
	p.expect("2\r\n")
	p.line(`print("spin" .. "ning") while true do end`)
	p.expect("spinning\r\n")
	p.send("\x03")
	p.expect("interrupt: EINTR")
	p.expect("> ") // readline is back (raw mode): ^C is now a key

	// Ctrl-C at an empty prompt says how to leave.
	p.send("\x03")
	p.expect("Ctrl-D or type :quit")

	// :help reads the docs.
	p.line(":help sock.listen_on")
	p.expect("Socket + bind + listen")

	// Ctrl-D leaves, terminating children.
	p.line(`c = proc.spawn{"sleep", "600"}`)
	p.line(`print("pid=" .. c:pid())`)
	pid, _ := strconv.Atoi(p.expectRe(`pid=(\d+)\r\n`))
	if !alive(pid) {
		t.Fatalf("child %d is not running", pid)
	}
	p.line(":procs")
	p.expect("sleep 600")
	p.settle()
	p.send("\x04")
	if code := p.waitExit(); code != 0 {
		t.Errorf("Ctrl-D: exit status %d; screen:\n%q", code, p.String())
	}
	eventually(t, "the child to be gone", func() bool { return !alive(pid) })
}

func TestREPLBackgroundAcceptWhilePromptWaits(t *testing.T) {
	p := startREPL(t, t.TempDir(), "repl")
	name := fmt.Sprintf("@fdwire-repl-e2e-%d", os.Getpid())
	p.line(fmt.Sprintf("l = sock.listen_on(%q)", name))
	p.expect("> ")
	p.line(`task.spawn(function() while true do local c = sock.accept(l); c:write("hello\n"); c:close() end end)`)
	p.expect("<task")
	for i := 0; i < 3; i++ {
		c, err := net.Dial("unix", name)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "hello\n" {
			t.Fatalf("client %d: %q, %v", i, b, err)
		}
	}
	p.line(":fds")
	p.expectRe(`(listening\s+` + name + `)`)
	p.line(":quit")
	if code := p.waitExit(); code != 0 {
		t.Errorf(":quit: status %d", code)
	}
	if c, err := net.Dial("unix", name); err == nil {
		c.Close()
		t.Errorf("%s still accepts after the REPL ended", name)
	}
}

func TestREPLHistorySurvivesRestart(t *testing.T) {
	state := t.TempDir()
	p := startREPL(t, state)
	p.line("1000 + 234")
	p.expect("1234\r\n")
	p.line("1000 + 234") // a repeat is not stored twice
	p.expect("1234\r\n")
	p.line("x = 1")
	p.settle()
	p.send("\x04")
	p.waitExit()

	b, err := os.ReadFile(filepath.Join(state, "fdwire", "history"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "1000 + 234\nx = 1\nprint(\"settled\" .. 1)\n" {
		t.Errorf("history file: %q", got)
	}

	p = startREPL(t, state)
	p.send("\x1b[A\x1b[A\x1b[A\r") // Up three times, Enter: the oldest entry
	p.expect("1234\r\n")
	p.settle()
	p.send("\x04")
	p.waitExit()
}

func TestREPLNeedsATerminal(t *testing.T) {
	r := fdwire(t, "print(20 + 22)")
	if r.Code != 0 || r.Stdout != "42\n" {
		t.Errorf("fdwire with piped stdin runs it as a script: %+v", r)
	}
	r = fdwire(t, "print(1)", "repl")
	if r.Code != 1 || !strings.Contains(r.Stderr, "not a terminal") {
		t.Errorf("fdwire repl without a terminal: %+v", r)
	}
}

func TestREPLSigtermEndsTheSession(t *testing.T) {
	p := startREPL(t, t.TempDir())
	p.line(`c = proc.spawn{"sleep", "600"}`)
	p.line(`print("pid=" .. c:pid())`)
	pid, _ := strconv.Atoi(p.expectRe(`pid=(\d+)\r\n`))
	p.settle()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(); code != 143 {
		t.Errorf("SIGTERM at the prompt: status %d", code)
	}
	eventually(t, "the child to be gone", func() bool { return !alive(pid) })
}

// TestREPLBackgroundPrintStaysOnScreen: lines a background task prints
// while the prompt waits stay on the screen, each on its own line above
// the prompt (print writes its value and the newline separately, and a
// redraw between the two used to erase the value).
func TestREPLBackgroundPrintStaysOnScreen(t *testing.T) {
	p := startREPL(t, t.TempDir())
	p.line(`task.spawn(function() for i = 1, 3 do task.sleep(0.05) print("tick", i) end print("ticks" .. "done") end)`)
	p.expect("ticksdone")
	p.settle()
	p.send("x = 1")
	p.expect("x = 1")
	lines := screenText(p.String())
	text := strings.Join(lines, "\n")
	for i := 1; i <= 3; i++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^tick\s+%d$`, i)).MatchString(text) {
			t.Errorf("the screen lost %q:\n%s", fmt.Sprintf("tick %d", i), text)
		}
	}
	if last := lines[len(lines)-1]; last != "> x = 1" {
		t.Errorf("the prompt line is %q, want %q; screen:\n%s", last, "> x = 1", text)
	}
	p.send("\x15\x04")
	p.waitExit()
}

// TestREPLCtrlCAfterTabListingDropsTheLine: Ctrl-C with a completion
// listing open abandons the typed line, as at any other time; it used to
// close only the listing, and the next line was appended to the old one
// ("sock.bind_a" + "zz = 42" set a field of sock).
func TestREPLCtrlCAfterTabListingDropsTheLine(t *testing.T) {
	p := startREPL(t, t.TempDir())
	p.send("sock.bind_\t\t")
	p.expect("bind_at")
	p.send("\x03")
	p.expect("^C")
	p.line("zz = 42")
	p.settle()
	p.line(`print("got", zz, sock.bind_azz, sock.bind_zz)`)
	p.expectRe(`(got\t42\tnil\tnil)\r\n`)
	p.send("\x04")
	p.waitExit()
}
