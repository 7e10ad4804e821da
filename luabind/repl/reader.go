package repl

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chzyer/readline"
)

// ErrInterrupt is what ReadLine returns for Ctrl-C at the prompt (the
// terminal is raw then, so ^C is a key, not SIGINT). The partial line is
// returned with it.
var ErrInterrupt = errors.New("interrupt")

// LineReader is the REPL's only view of line editing, so that readline
// stays replaceable and tests can feed lines without a terminal.
// ReadLine returns io.EOF on Ctrl-D at an empty line.
type LineReader interface {
	ReadLine(prompt string) (string, error)
	// AddHistory records one entry (the caller drops duplicates).
	AddHistory(entry string)
	// Stdout and Stderr write around the prompt being edited, so output
	// from background tasks does not garble it.
	Stdout() io.Writer
	Stderr() io.Writer
	Close() error
}

// Completer proposes whole words for the text left of the cursor: the
// candidates replace the last prefixLen runes before the cursor.
type Completer func(line string, pos int) (candidates []string, prefixLen int)

// HistoryLimit bounds the history file (older entries are dropped when
// the REPL starts).
const HistoryLimit = 1000

// HistoryPath is $XDG_STATE_HOME/fdwire/history, or
// ~/.local/state/fdwire/history; "" when neither can be worked out.
func HistoryPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "fdwire", "history")
}

// rlReader is LineReader on github.com/chzyer/readline.
type rlReader struct {
	rl *readline.Instance
	// op is rl.Operation for the input filter, which runs on readline's
	// own goroutine from the first key on (set once NewEx returned).
	op atomic.Pointer[readline.Operation]
	// prompted is set by the first ReadLine (see Close).
	prompted atomic.Bool
	last     string // the newest history entry, to drop consecutive repeats
}

// NewReadline makes a LineReader on the terminal at stdin/stdout, with
// history in historyFile ("" for none) and Tab calling complete.
func NewReadline(historyFile string, complete Completer) (LineReader, error) {
	r := &rlReader{}
	if historyFile != "" {
		if err := os.MkdirAll(filepath.Dir(historyFile), 0o700); err != nil {
			historyFile = "" // a read-only home still gets a REPL
		} else {
			r.last = lastLine(historyFile)
		}
	}
	cfg := &readline.Config{
		Prompt:      "> ",
		HistoryFile: historyFile,
		// Entries are added by AddHistory only: readline would otherwise
		// save every line, continuation lines and repeats included.
		DisableAutoSaveHistory: true,
		HistoryLimit:           HistoryLimit,
		AutoComplete:           completerAdapter(complete),
		InterruptPrompt:        "^C",
		// Ctrl-C with a completion listing open would only close the
		// listing and keep the typed line, so the next line was appended
		// to it; close the listing first, and Ctrl-C then abandons the
		// line as it does everywhere else.
		FuncFilterInputRune: func(c rune) (rune, bool) {
			if op := r.op.Load(); c == readline.CharInterrupt && op != nil && op.IsInCompleteMode() {
				op.ExitCompleteMode(true)
			}
			return c, true
		},
		EOFPrompt: "\n",
		FuncGetWidth: func() int {
			// A terminal that reports no size (a fresh pty) still
			// completes: readline turns completion off at width 0.
			if w := readline.GetScreenWidth(); w > 0 {
				return w
			}
			return 80
		},
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return nil, err
	}
	r.rl = rl
	r.op.Store(rl.Operation)
	return r, nil
}

func (r *rlReader) ReadLine(prompt string) (string, error) {
	r.prompted.Store(true)
	r.rl.SetPrompt(prompt)
	line, err := r.rl.Readline()
	if errors.Is(err, readline.ErrInterrupt) {
		return line, ErrInterrupt
	}
	return line, err
}

func (r *rlReader) AddHistory(entry string) {
	if entry == "" || entry == r.last {
		return
	}
	r.last = entry
	r.rl.SaveHistory(entry)
}

func (r *rlReader) Stdout() io.Writer { return r.rl.Stdout() }
func (r *rlReader) Stderr() io.Writer { return r.rl.Stderr() }

// Close gives readline a moment to stop: readline v1.5.1's Close waits for
// its reader goroutine, which never returns when it holds a key typed
// after the last line (type-ahead, or ^D read as EOF while a statement
// ran). The terminal is already back in cooked mode by then, and history
// is written as entries are added, so nothing is lost by not waiting.
//
// Before any ReadLine, the terminal goroutine may not have registered in
// readline's WaitGroup yet, and waiting for it then is a WaitGroup misuse
// (what the race detector reported): only the history file and stdin are
// closed, and that goroutine, parked on a channel, is left.
func (r *rlReader) Close() error {
	if !r.prompted.Load() {
		r.rl.Config.Stdin.Close()
		r.rl.Operation.Close()
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- r.rl.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// lastLine is the newest entry of a history file.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	last := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	return last
}

type completerAdapter Completer

// Do adapts whole-word candidates to readline's "suffixes after a shared
// prefix of length n" form.
func (c completerAdapter) Do(line []rune, pos int) ([][]rune, int) {
	if c == nil {
		return nil, 0
	}
	cands, n := c(string(line[:pos]), pos)
	var out [][]rune
	for _, w := range cands {
		rw := []rune(w)
		if len(rw) < n {
			continue
		}
		out = append(out, rw[n:])
	}
	return out, n
}
