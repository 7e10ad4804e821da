// Package repl is fdwire's interactive session: each line is Lua run as a
// task of the same cooperative scheduler scripts use, so background tasks
// (an accept loop) keep running while the prompt waits.
//
// Goroutines: the Lua state and its loop live on the goroutine that calls
// Run. The line reader runs on another goroutine and hands each line to
// the loop with Post (which wakes its poll); it is asked for a line only
// while no statement runs, so the terminal is raw (readline's) only at the
// prompt and ^C during a statement arrives as SIGINT, which Interrupt
// turns into cancelling that statement's task.
package repl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/luabind"
)

// Options configure a Session.
type Options struct {
	// Reader supplies lines; nil means readline on the terminal.
	Reader LineReader
	// HistoryFile for the readline reader; "" means HistoryPath(), "-"
	// means no history.
	HistoryFile string
	// Grace is how long a statement gets to notice Ctrl-C before its
	// thread is stopped (default 250ms).
	Grace time.Duration
	// Runtime options (Stdout/Stderr default to the reader's).
	Runtime luabind.Options
	// Banner is printed once, before the first prompt ("" for none).
	Banner string
}

// Session is one REPL: a runtime, a line reader, and the statement that
// runs now (if any).
type Session struct {
	rt     *luabind.Runtime
	in     LineReader
	out    io.Writer
	errw   io.Writer
	grace  time.Duration
	help   *helpIndex
	banner string

	mu  sync.Mutex
	cur *luabind.Statement

	reqs      chan string
	got       *lineResult
	prompting atomic.Bool
	started   bool
	quit      bool
}

type lineResult struct {
	line string
	err  error
}

// errExit ends the read loop when os.exit was called from a task.
var errExit = errors.New("exit requested")

// New makes a session with its runtime (the caller must call Run, which
// closes both).
func New(o Options) (*Session, error) {
	s := &Session{grace: o.Grace, help: defaultHelp(), reqs: make(chan string), banner: o.Banner}
	if s.grace == 0 {
		s.grace = 250 * time.Millisecond
	}
	s.in = o.Reader
	if s.in == nil {
		hist := o.HistoryFile
		switch hist {
		case "":
			hist = HistoryPath()
		case "-":
			hist = ""
		}
		r, err := NewReadline(hist, s.complete)
		if err != nil {
			return nil, err
		}
		s.in = r
	}
	ro := o.Runtime
	// Output goes straight to the terminal while a statement runs, and
	// through readline (which redraws the prompt) only while the prompt
	// is up: readline's own check lags behind the end of a line.
	rawOut, rawErr := io.Writer(os.Stdout), io.Writer(os.Stderr)
	if o.Reader != nil {
		rawOut, rawErr = s.in.Stdout(), s.in.Stderr() // a scripted reader is its own screen
	}
	if ro.Stdout != nil {
		rawOut = ro.Stdout
	}
	if ro.Stderr != nil {
		rawErr = ro.Stderr
	}
	ro.Stdout = &guardedWriter{s: s, direct: rawOut, around: s.in.Stdout()}
	ro.Stderr = &guardedWriter{s: s, direct: rawErr, around: s.in.Stderr()}
	if ro.Script == "" {
		ro.Script = "repl"
	}
	s.out, s.errw = ro.Stdout, ro.Stderr
	rt, err := luabind.New(ro)
	if err != nil {
		s.in.Close()
		return nil, err
	}
	s.rt = rt
	return s, nil
}

// Runtime is the session's runtime (for tests).
func (s *Session) Runtime() *luabind.Runtime { return s.rt }

// Complete is the Tab handler, exported for readers other than readline.
func (s *Session) Complete(line string) ([]string, int) { return s.complete(line, len(line)) }

// Interrupt is Ctrl-C from any goroutine (a SIGINT handler): it cancels
// the running statement, and does nothing at the prompt.
func (s *Session) Interrupt() {
	s.mu.Lock()
	st := s.cur
	s.mu.Unlock()
	if st != nil {
		st.Interrupt(s.grace)
	}
}

// Terminate ends the session from any goroutine (SIGTERM), as os.exit(code).
func (s *Session) Terminate(code int) { s.rt.Interrupt(code) }

// Run reads and runs lines until Ctrl-D, :quit or os.exit, then closes
// every descriptor and terminates the children (as a script's end does).
// It returns the exit status: 0, or os.exit's.
func (s *Session) Run() int {
	defer s.close()
	if s.banner != "" {
		fmt.Fprintln(s.out, s.banner)
	}
	var buf []string
	for {
		prompt := "> "
		if len(buf) > 0 {
			prompt = ">> "
		}
		line, err := s.readLine(prompt)
		switch {
		case err == errExit:
			code, _ := s.rt.ExitRequested()
			return code
		case errors.Is(err, ErrInterrupt):
			if len(buf) == 0 && strings.TrimSpace(line) == "" {
				fmt.Fprintln(s.errw, "(to leave, press Ctrl-D or type :quit)")
			}
			buf = nil
			continue
		case err == io.EOF:
			return 0
		case err != nil:
			fmt.Fprintln(s.errw, "fdwire: reading input:", err)
			return 1
		}
		if len(buf) == 0 {
			t := strings.TrimSpace(line)
			if t == "" {
				continue
			}
			if strings.HasPrefix(t, ":") {
				s.remember([]string{t})
				s.command(t)
				if s.quit {
					return 0
				}
				continue
			}
		}
		buf = append(buf, line)
		fn, expr, err := s.compile(strings.Join(buf, "\n"))
		if err != nil && incomplete(err) {
			continue
		}
		s.remember(buf)
		buf = nil
		if err != nil {
			fmt.Fprintln(s.errw, cleanSyntaxError(err))
			continue
		}
		if code, exited := s.exec(fn, expr); exited {
			return code
		}
	}
}

// readLine asks the reader goroutine for a line and runs the loop (every
// background task) until it arrives.
func (s *Session) readLine(prompt string) (string, error) {
	if !s.started {
		s.started = true
		go s.readerLoop()
	}
	s.got = nil
	s.prompting.Store(true)
	s.reqs <- prompt
	s.rt.SetExternal(true)
	defer s.rt.SetExternal(false)
	for s.got == nil {
		if _, ok := s.rt.ExitRequested(); ok {
			return "", errExit
		}
		if err := s.rt.Turn(); err != nil {
			return "", err
		}
	}
	return s.got.line, s.got.err
}

func (s *Session) readerLoop() {
	for p := range s.reqs {
		line, err := s.in.ReadLine(p)
		r := &lineResult{line, err}
		s.prompting.Store(false)
		s.rt.Post(func() { s.got = r })
	}
}

// compile tries the input as an expression first (as lua 5.4 does;
// "=expr" is lua 5.1's spelling), then as statements. The expression is
// packed inside the chunk, "return pack(expr)", rather than compiled as
// "return expr": a lone call there would be a tail call, and error()
// would then blame the runtime's frame instead of stdin:1.
func (s *Session) compile(src string) (fn *lua.LFunction, expr bool, err error) {
	body := src
	if e, ok := strings.CutPrefix(strings.TrimLeft(src, " \t"), "="); ok {
		body = e
	}
	fn, err = s.rt.Load(packPrefix+body+"\n)", "=stdin")
	if err == nil {
		return fn, true, nil
	}
	if body != src {
		_, err = s.rt.Load("return "+body, "=stdin")
		return nil, false, err
	}
	fn, err = s.rt.Load(src, "=stdin")
	if err != nil && !incomplete(err) {
		// "{1," fails as a statement but is an unfinished expression.
		if _, rerr := s.rt.Load("return "+src, "=stdin"); rerr != nil && incomplete(rerr) {
			err = rerr
		}
	}
	return fn, false, err
}

const packPrefix = `return (function(...) return {n = select("#", ...), ...} end)(`

// incomplete reports a syntax error that more input could fix: gopher-lua
// says "at EOF" for an open block, table, call or long string; a short
// string cut at a line end is not continued (Lua rejects it anyway).
func incomplete(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, " at EOF:") && !strings.Contains(msg, "unterminated string")
}

var parseErrRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^=?(\S+) line:(\d+)\(column:(\d+)\) (near .*):\s+(.*)$`)
})

// cleanSyntaxError puts gopher-lua's parse error on one line in the
// usual "stdin:1:5: syntax error near ')'" form.
func cleanSyntaxError(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if m := parseErrRe().FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s:%s: %s %s", m[1], m[2], m[3], m[5], m[4])
	}
	return strings.TrimPrefix(msg, "=")
}

// exec runs fn as a statement task and prints its values or its error;
// it reports os.exit with its status.
func (s *Session) exec(fn *lua.LFunction, expr bool) (int, bool) {
	s.flushOutput()
	st := s.rt.StartStatement(fn)
	s.mu.Lock()
	s.cur = st
	s.mu.Unlock()
	res := st.Wait()
	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
	switch {
	case res.Exit != nil:
		return *res.Exit, true
	case res.Err != nil:
		fmt.Fprintln(s.errw, s.errorText(res.Err))
	default:
		vals := res.Values
		if expr && len(vals) == 1 {
			vals = unpack(vals[0])
		}
		if len(vals) > 0 {
			fmt.Fprintln(s.out, formatValues(s.rt.L, vals))
		}
	}
	return s.rt.ExitRequested()
}

// flushOutput writes what background tasks printed without a newline
// while the prompt was up.
func (s *Session) flushOutput() {
	for _, w := range []io.Writer{s.out, s.errw} {
		if g, ok := w.(*guardedWriter); ok {
			g.flush()
		}
	}
}

// unpack undoes packPrefix's {n=, ...}.
func unpack(v lua.LValue) []lua.LValue {
	t, ok := v.(*lua.LTable)
	if !ok {
		return []lua.LValue{v}
	}
	n := int(lua.LVAsNumber(t.RawGetString("n")))
	out := make([]lua.LValue, n)
	for i := range out {
		out[i] = t.RawGetInt(i + 1)
	}
	return out
}

// errorText is the error's message and the frames of the traceback that
// are the user's code (not the runtime's glue); a traceback whose only
// frame is the line itself is left out.
func (s *Session) errorText(v lua.LValue) string {
	msg := strings.TrimPrefix(luabind.ErrorText(v), "=") // the VM's "=stdin:1:"
	report := s.rt.ErrorReport(v)
	_, tb, ok := strings.Cut(report, "stack traceback:")
	if !ok {
		return msg
	}
	var frames []string
	for _, l := range strings.Split(tb, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.Contains(t, "<string>") || strings.HasPrefix(t, "[G]") ||
			strings.Contains(t, "in main chunk") || strings.HasSuffix(t, "in function 'chunk'") {
			continue
		}
		frames = append(frames, "\t"+strings.TrimPrefix(t, "="))
	}
	if len(frames) == 0 {
		return msg
	}
	return msg + "\nstack traceback:\n" + strings.Join(frames, "\n")
}

// remember adds the entry to history as one line when that keeps its
// meaning (no "--" comment that would swallow the lines after it).
func (s *Session) remember(lines []string) {
	joined := strings.Join(lines, "\n")
	if strings.TrimSpace(joined) == "" {
		return
	}
	if len(lines) == 1 || !strings.Contains(joined, "--") {
		parts := make([]string, 0, len(lines))
		for _, l := range lines {
			if t := strings.TrimSpace(l); t != "" {
				parts = append(parts, t)
			}
		}
		s.in.AddHistory(strings.Join(parts, " "))
		return
	}
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" {
			s.in.AddHistory(t)
		}
	}
}

// close ends the reader and the runtime: children terminated, every
// descriptor closed.
func (s *Session) close() {
	close(s.reqs)
	s.in.Close()
	s.rt.Close()
}

// guardedWriter writes around the prompt while it is up, directly
// otherwise. Around the prompt it passes whole lines only: the reader
// redraws the prompt after each write, and a redraw after a partial line
// ("tick" before print's separate "\n") would erase it. A partial line
// waits for its end, or for the prompt to go (flush).
type guardedWriter struct {
	s              *Session
	direct, around io.Writer
	mu             sync.Mutex
	pending        []byte
}

func (w *guardedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.s.prompting.Load() {
		w.pending = append(w.pending, p...)
		if i := bytes.LastIndexByte(w.pending, '\n'); i >= 0 {
			_, err := w.around.Write(w.pending[:i+1])
			w.pending = append(w.pending[:0], w.pending[i+1:]...)
			if err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	if err := w.flushLocked(); err != nil {
		return 0, err
	}
	return w.direct.Write(p)
}

// flush writes a held partial line directly (the prompt is down).
func (w *guardedWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
}

func (w *guardedWriter) flushLocked() error {
	if len(w.pending) == 0 {
		return nil
	}
	_, err := w.direct.Write(w.pending)
	w.pending = w.pending[:0]
	return err
}
