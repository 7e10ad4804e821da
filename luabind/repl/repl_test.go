package repl

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/luabind/modules"
)

// syncBuffer is the fake terminal's screen: stdout and stderr of the
// session, written from the Lua goroutine, read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fakeReader feeds scripted lines; "\x03" is Ctrl-C at the prompt, and
// closing lines is Ctrl-D.
type fakeReader struct {
	lines   chan string
	prompts chan string
	closed  chan struct{}
	once    sync.Once
	screen  *syncBuffer
	mu      sync.Mutex
	history []string
}

func (f *fakeReader) ReadLine(prompt string) (string, error) {
	f.screen.Write([]byte(prompt))
	f.prompts <- prompt
	select {
	case l, ok := <-f.lines:
		if !ok {
			return "", io.EOF
		}
		if l == "\x03" {
			return "", ErrInterrupt
		}
		f.screen.Write([]byte(l + "\n"))
		return l, nil
	case <-f.closed:
		return "", io.EOF
	}
}

func (f *fakeReader) AddHistory(e string) {
	f.mu.Lock()
	f.history = append(f.history, e)
	f.mu.Unlock()
}

func (f *fakeReader) Stdout() io.Writer { return f.screen }
func (f *fakeReader) Stderr() io.Writer { return f.screen }
func (f *fakeReader) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// harness runs a session on its own goroutine (which then owns the Lua
// state) and talks to it like a person at a terminal.
type harness struct {
	t      *testing.T
	s      *Session
	fr     *fakeReader
	done   chan int
	mark   int
	prompt string
}

func start(t *testing.T) *harness {
	t.Helper()
	leakcheck.Check(t)
	screen := &syncBuffer{}
	fr := &fakeReader{lines: make(chan string), prompts: make(chan string, 100), closed: make(chan struct{}), screen: screen}
	s, err := New(Options{Reader: fr, Grace: 100 * time.Millisecond, Runtime: luabind.Options{Modules: modules.Default()}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: s, fr: fr, done: make(chan int, 1)}
	go func() { h.done <- s.Run() }()
	h.waitPrompt()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			fr.once.Do(func() { close(fr.closed) })
			<-h.done
		}
	})
	return h
}

func (h *harness) waitPrompt() {
	h.t.Helper()
	select {
	case h.prompt = <-h.fr.prompts:
	case code := <-h.done:
		h.done <- code
		h.t.Fatalf("the session ended (status %d) instead of prompting; screen:\n%s", code, h.fr.screen.String())
	case <-time.After(30 * time.Second):
		h.t.Fatalf("no prompt within 30s; screen:\n%s", h.fr.screen.String())
	}
}

// do types line, waits for the next prompt, and returns what the
// statement printed.
func (h *harness) do(line string) string {
	h.t.Helper()
	h.mark = len(h.fr.screen.String())
	h.fr.lines <- line
	h.waitPrompt()
	out := h.fr.screen.String()[h.mark:]
	out = strings.TrimPrefix(out, line+"\n")
	return strings.TrimSuffix(strings.TrimSuffix(out, h.prompt), "\n")
}

// eof is Ctrl-D; it returns the session's exit status.
func (h *harness) eof() int {
	h.t.Helper()
	close(h.fr.lines)
	return h.wait()
}

func (h *harness) wait() int {
	h.t.Helper()
	select {
	case code := <-h.done:
		h.done <- code
		return code
	case <-time.After(30 * time.Second):
		h.t.Fatal("the session did not end within 30s")
	}
	return -1
}

// waitScreen waits until the screen shows want after the last mark.
func (h *harness) waitScreen(want string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.fr.screen.String()[h.mark:], want) {
		if time.Now().After(deadline) {
			h.t.Fatalf("screen never showed %q:\n%s", want, h.fr.screen.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExpressionsPrintTheirValues(t *testing.T) {
	h := start(t)
	for _, c := range []struct{ in, want string }{
		{"1+1", "2"},
		{"=3*3", "9"},
		{"x = 5", ""},
		{"x", "5"},
		{"nil", "nil"},
		{"1, nil, 'x'", "1\tnil\t\"x\""},
		{`"a\0b\n"`, `"a\x00b\n"`},
		{"{3, 1, b = 2, a = {}, c = {1}, [10] = true}", "{3, 1, [10] = true, a = {}, b = 2, c = {...}}"},
		{"{}", "{}"},
		{"local y = 7 return y", "7"},
		{"print('p')", "p"},
		{"(function() end)()", ""},
		{"select('#', (function() return nil, nil end)())", "2"},
		{"(function() return nil, nil end)()", "nil\tnil"},
		{"print", "<function builtin>"},
		{"sock.connect", "<function>"},
		{"pcall(sock.connect, '@fdwire-repl-test-none')", `false	connect @fdwire-repl-test-none: ECONNREFUSED: connection refused`},
	} {
		if got := h.do(c.in); got != c.want {
			t.Errorf("%s: got %q, want %q", c.in, got, c.want)
		}
	}
	if got := h.do("r, w = fd.pipe()"); got != "" {
		t.Errorf("pipe: %q", got)
	}
	if got := h.do("r"); !regexp.MustCompile(`^<fd \d+ pipe.*>$`).MatchString(got) {
		t.Errorf("an Fd prints as %q", got)
	}
	if got := h.do("{r}"); !regexp.MustCompile(`^\{<fd \d+ pipe.*>\}$`).MatchString(got) {
		t.Errorf("a table of Fd prints as %q", got)
	}
	if code := h.eof(); code != 0 {
		t.Errorf("Ctrl-D: status %d", code)
	}
}

func TestMultiLineDefinition(t *testing.T) {
	h := start(t)
	h.do("function twice(x)")
	if h.prompt != ">> " {
		t.Fatalf("an open function gives prompt %q, want \">> \"", h.prompt)
	}
	h.do("  if x < 0 then error('negative') end")
	h.do("  return x * 2")
	if got := h.do("end"); got != "" || h.prompt != "> " {
		t.Fatalf("after end: output %q, prompt %q", got, h.prompt)
	}
	if got := h.do("twice(21)"); got != "42" {
		t.Errorf("twice(21) = %q", got)
	}
	h.do("t = {1,")
	if got := h.do("2}"); got != "" {
		t.Errorf("table across lines: %q", got)
	}
	h.do("{1,")
	if got := h.do(" 2}"); got != "{1, 2}" {
		t.Errorf("expression across lines: %q", got)
	}
	// Ctrl-C abandons unfinished input.
	h.do("for i = 1, 3 do")
	h.do("\x03")
	if h.prompt != "> " {
		t.Errorf("Ctrl-C in a continuation leaves prompt %q", h.prompt)
	}
	got := h.do("twice(-1)")
	if !strings.Contains(got, "stdin:2: negative") || !strings.Contains(got, "in function 'twice'") {
		t.Errorf("error inside a multi-line function: %q", got)
	}
	h.fr.mu.Lock()
	hist := append([]string(nil), h.fr.history...)
	h.fr.mu.Unlock()
	want := "function twice(x) if x < 0 then error('negative') end return x * 2 end"
	if len(hist) == 0 || hist[0] != want {
		t.Errorf("history entry for the definition: %q, want %q", hist, want)
	}
	h.eof()
}

func TestErrorsDoNotEndTheSession(t *testing.T) {
	h := start(t)
	h.do("kept = 'yes'")
	for _, c := range []struct{ in, want string }{
		{"error('boom')", "stdin:1: boom"},
		{"sock.connect('@fdwire-repl-test-none')", "connect @fdwire-repl-test-none: ECONNREFUSED: connection refused"},
		{"fd.pipe(1, 2):nope()", "stdin:1: attempt to call a non-function object"},
		{")", "stdin:1:1: syntax error near ')'"},
		{"nosuch.x", "stdin:1: attempt to index a non-table object(nil) with key 'x'"},
		{"proc.spawn{}", "proc.spawn: EINVAL"},
		{"task.wait(task.current())", "EDEADLK"},
		{":nonsense", "unknown command :nonsense"},
	} {
		if got := h.do(c.in); !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want it to contain %q", c.in, got, c.want)
		}
	}
	if got := h.do("kept"); got != `"yes"` {
		t.Errorf("state after errors: %q", got)
	}
	if got := h.do("\x03"); !strings.Contains(got, "Ctrl-D") || !strings.Contains(got, ":quit") {
		t.Errorf("Ctrl-C at an empty prompt says %q", got)
	}
	if code := h.eof(); code != 0 {
		t.Errorf("status %d", code)
	}
}

func TestBackgroundTasksRunWhileThePromptWaits(t *testing.T) {
	h := start(t)
	name := fmt.Sprintf("@fdwire-repl-test-%d", os.Getpid())
	h.do(fmt.Sprintf("l = sock.listen_on(%q)", name))
	h.do(`served = 0`)
	h.do(`task.spawn(function() while true do local c = sock.accept(l); c:write("hello\n"); c:close(); served = served + 1 end end)`)
	// The session is now waiting for a line; the accept loop must serve.
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", name)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "hello\n" {
			t.Fatalf("client %d read %q, %v", i, b, err)
		}
	}
	if got := h.do("served"); got != "2" {
		t.Errorf("served = %s", got)
	}
	if got := h.do(":fds"); !regexp.MustCompile(`listening\s+` + name).MatchString(got) {
		t.Errorf(":fds: %q", got)
	}
	h.eof()
}

func TestCtrlCInterruptsTheRunningStatement(t *testing.T) {
	h := start(t)
	cases := []struct {
		name, code string
		presses    int
	}{
		{"sleep", `print("go") task.sleep(60)`, 1},
		{"busy loop", `print("go") while true do end`, 1},
		{"busy loop that catches", `print("go") while true do pcall(task.sleep, 0.001) end`, 2},
		{"accept", `print("go") sock.accept(sock.listen_on("@"))`, 1},
		{"plain yields", `print("go") while true do coroutine.yield() end`, 1},
	}
	for _, c := range cases {
		h.mark = len(h.fr.screen.String())
		h.fr.lines <- c.code
		h.waitScreen("go\n")
		for i := 0; i < c.presses; i++ {
			time.Sleep(20 * time.Millisecond)
			h.s.Interrupt()
		}
		h.waitPrompt()
		if got := h.fr.screen.String()[h.mark:]; !strings.Contains(got, "interrupt: EINTR") {
			t.Errorf("%s: after Ctrl-C the screen shows %q", c.name, got)
		}
	}
	if got := h.do("1+1"); got != "2" {
		t.Errorf("after interrupts: %q", got)
	}
	// A statement can catch the first Ctrl-C.
	h.mark = len(h.fr.screen.String())
	h.fr.lines <- `print("go") ok, e = pcall(task.sleep, 60) print(ok, e.name)`
	h.waitScreen("go\n")
	h.s.Interrupt()
	h.waitPrompt()
	if got := h.fr.screen.String()[h.mark:]; !strings.Contains(got, "false\tEINTR") {
		t.Errorf("caught interrupt: %q", got)
	}
	h.eof()
}

func TestCoroutinesOutliveTheirStatement(t *testing.T) {
	h := start(t)
	h.do(`gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)`)
	if got := h.do("gen()"); got != "1" {
		t.Errorf("first: %q", got)
	}
	if got := h.do("gen()"); got != "2" {
		t.Errorf("second: %q", got)
	}
	h.eof()
}

func TestCtrlDClosesEveryFdAndEndsChildren(t *testing.T) {
	h := start(t) // leakcheck: no fd, no child after the session
	h.do("r, w = fd.pipe()")
	h.do(`l = sock.listen_on("@")`)
	h.do(`p = proc.spawn{"sleep", "60"}`)
	h.do(`t = task.spawn(function() task.sleep(60) end)`)
	if got := h.do("p"); !regexp.MustCompile(`^<proc \d+ running>$`).MatchString(got) {
		t.Errorf("p prints as %q", got)
	}
	if got := h.do(":procs"); !regexp.MustCompile(`\d+\s+running\s+sleep 60`).MatchString(got) {
		t.Errorf(":procs: %q", got)
	}
	got := h.do(":fds")
	for _, want := range []string{"pipe", "listening"} {
		if !strings.Contains(got, want) {
			t.Errorf(":fds lacks %q: %q", want, got)
		}
	}
	if code := h.eof(); code != 0 {
		t.Errorf("status %d", code)
	}
}

func TestQuitAndExit(t *testing.T) {
	h := start(t)
	h.fr.lines <- ":quit"
	if code := h.wait(); code != 0 {
		t.Errorf(":quit: status %d", code)
	}
	h = start(t)
	h.fr.lines <- "os.exit(3)"
	if code := h.wait(); code != 3 {
		t.Errorf("os.exit(3): status %d", code)
	}
	// A background task may end the session while the prompt waits.
	h = start(t)
	h.do("task.spawn(function() task.sleep(0.05) os.exit(4) end)")
	if code := h.wait(); code != 4 {
		t.Errorf("os.exit from a task: status %d", code)
	}
}

func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file-one"), nil, 0o600)
	os.Mkdir(filepath.Join(dir, "subdir"), 0o700)
	h := start(t)
	h.do(`l = sock.listen_on("@")`)
	h.do(`t = {alpha = 1, beta = {gamma = 2}}`)
	has := func(line string, want ...string) {
		t.Helper()
		got, n := h.s.Complete(line)
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("completing %q: %q lacks %q", line, got, w)
			}
		}
		if n < 0 || n > len(line) {
			t.Errorf("completing %q: prefix length %d", line, n)
		}
	}
	has("sock.listen_", "listen_on")
	has("sock.", "connect", "listen_on", "sendfds")
	has("x = sock.conn", "connect")
	has("l:", "close", "read", "info")
	has("l:re", "read")
	has("pri", "print")
	has("loc", "local")
	has("t.", "alpha", "beta")
	has("t.beta.g", "gamma")
	has("topo.", "up", "define")
	has("fd.open(\""+dir+"/fi", "file-one")
	has("fd.open('"+dir+"/s", "subdir/")
	has(":he", ":help")
	has(":help sock.listen", "sock.listen_on")
	if fns := h.s.Runtime().Functions(); contains(fns, "sock.bind_anon") {
		has("sock.bind_", "bind_anon")
	} else {
		t.Log("sock.bind_anon is not registered in this build; its completion is not checked")
	}
	if got, _ := h.s.Complete("nosuch."); len(got) != 0 {
		t.Errorf("fields of a missing global: %q", got)
	}
	if got, _ := h.s.Complete("x = 3."); len(got) != 0 {
		t.Errorf("a number is not a table: %q", got)
	}
	h.eof()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestIncompleteInput(t *testing.T) {
	rt, err := luabind.New(luabind.Options{Modules: modules.Default()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := &Session{rt: rt}
	for _, c := range []struct {
		src  string
		more bool
	}{
		{"function f()", true},
		{"if x then", true},
		{"t = {", true},
		{"{1,", true},
		{"f(1,", true},
		{"s = [[abc", true},
		{"x = ", true},
		{"x = )", false},
		{`s = "abc`, false},
		{"1 +", true},
		{"end", false},
	} {
		_, _, err := s.compile(c.src)
		got := err != nil && incomplete(err)
		if got != c.more {
			t.Errorf("%q: incomplete=%v (err %v), want %v", c.src, got, err, c.more)
		}
	}
}

func TestHelpReadsTheDocs(t *testing.T) {
	rt, err := luabind.New(luabind.Options{Modules: modules.Default()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, f := range rt.Functions() {
		if _, ok := defaultHelp().entries[f]; !ok {
			t.Errorf(":help %s finds no entry", f)
		}
	}
	if got := defaultHelp().text("sock.listen_on"); !strings.HasPrefix(got, "sock.listen_on(") || !strings.Contains(got, "docs/sock.md") {
		t.Errorf(":help sock.listen_on:\n%s", got)
	}
	if got := defaultHelp().text("Fd"); !strings.Contains(got, "Fd:read(") || !strings.Contains(got, "Fd:close(") {
		t.Errorf(":help Fd:\n%s", got)
	}
	if got := defaultHelp().text(""); !strings.Contains(got, ":fds") || !strings.Contains(got, "sock") {
		t.Errorf(":help:\n%s", got)
	}
	if got := defaultHelp().text("listen"); !strings.Contains(got, "no help") || !strings.Contains(got, "sock.listen_on") {
		t.Errorf(":help listen:\n%s", got)
	}
}

func TestHistoryFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	path := HistoryPath()
	if path != filepath.Join(dir, "fdwire", "history") {
		t.Fatalf("HistoryPath() = %q", path)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", dir)
	if p := HistoryPath(); p != filepath.Join(dir, ".local", "state", "fdwire", "history") {
		t.Errorf("without XDG_STATE_HOME: %q", p)
	}
	r, err := NewReadline(path, nil)
	if err != nil {
		t.Skipf("readline cannot start here: %v", err)
	}
	for _, e := range []string{"a = 1", "a = 1", "b", "a = 1"} {
		r.AddHistory(e)
	}
	r.Close()
	r, err = NewReadline(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.AddHistory("a = 1") // the newest entry already
	r.AddHistory("c")
	r.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "a = 1\nb\na = 1\nc\n"; got != want {
		t.Errorf("history file:\n%q\nwant\n%q", got, want)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("history dir: %v %v", st, err)
	}
}

// TestFdsShowsWhatTheKernelSays: :fds is a table of each descriptor's
// kind, pipe end, flags, socket state and addresses, inode, and who else
// holds it: a child's copy (same open file description, through kcmp),
// the other end of a pipe, a socket's peer; unnamed sockets say so.
func TestFdsShowsWhatTheKernelSays(t *testing.T) {
	h := start(t)
	name := fmt.Sprintf("@fdwire-repl-fds-%d", os.Getpid())
	h.do("r, w = fd.pipe()")
	h.do(`c = proc.spawn{"sleep", "60", fds = {[0] = r}}`)
	h.do("a, b = sock.pair('stream')")
	h.do(fmt.Sprintf("l = sock.listen_on(%q)", name))
	pid := h.do("c:pid()")
	nums := map[string]string{}
	for _, v := range []string{"r", "w", "a", "b", "l"} {
		nums[v] = h.do(v + ":num()")
	}
	got := h.do(":fds")
	t.Logf(":fds:\n%s", got)
	rows := map[string][]string{} // fd number -> its line and continuation lines
	var last string
	for i, l := range strings.Split(got, "\n") {
		f := strings.Fields(l)
		switch {
		case i == 0:
			if len(f) < 9 || f[0] != "FD" || f[1] != "KIND" || f[2] != "END" {
				t.Fatalf(":fds header: %q", l)
			}
		case len(f) > 0 && l[0] != ' ':
			last = f[0]
			rows[last] = append(rows[last], l)
		case len(f) > 0:
			rows[last] = append(rows[last], l)
		}
	}
	check := func(v string, want ...string) {
		t.Helper()
		text := strings.Join(rows[nums[v]], "\n")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf(":fds row of %s (fd %s) lacks %q:\n%s", v, nums[v], w, got)
			}
		}
	}
	check("r", "pipe", "read end", "cloexec", fmt.Sprintf("pid %s sleep fd 0 (read end, same description)", pid))
	check("w", "pipe", "write end", fmt.Sprintf("pid %s sleep fd 0 (other end: read end)", pid))
	check("a", "unix/stream", "connected", "unnamed", "peer: this fdwire fd "+nums["b"])
	check("l", "unix/stream", "listening", name)
	if strings.Contains(strings.Join(rows[nums["a"]], ""), " @ ") {
		t.Errorf("an unnamed socket shows as @:\n%s", got)
	}
	h.do("c:kill() c:wait()")
	h.eof()
}
