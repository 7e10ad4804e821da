// Package sigwatch turns signals into readable bytes: the one way fdwire's
// Lua code waits for a signal (signal.watch for the tools, the topology
// engine's ordered teardown), cooperatively, through the poller.
package sigwatch

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Watch returns the read end of a private pipe that gets one byte, the
// signal number, per arrival of any of sigs. Until it is closed those
// signals lose their default effect. intercept, when not nil, sees each
// arrival first and swallows it by returning true (the topology's "a
// second signal interrupts at once"). The write end is non-blocking and
// ours alone, so a burst beyond the pipe's buffer is dropped, never
// blocking the goroutine. Closing the read end stops the watch.
func Watch(sigs []os.Signal, intercept func(unix.Signal) bool) (*fdio.FD, error) {
	r, w, err := fdio.Pipe()
	if err != nil {
		return nil, err
	}
	if err := w.SetNonblock(true); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	var mu sync.Mutex // keeps the write from racing the close below
	go func() {
		for {
			select {
			case s := <-ch:
				sig := s.(unix.Signal)
				if intercept != nil && intercept(sig) {
					continue
				}
				mu.Lock()
				if n, err := w.Num(); err == nil {
					sys.Write(n, []byte{byte(sig)})
				}
				mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	r.OnClose(func() {
		signal.Stop(ch)
		close(done)
		mu.Lock()
		w.Close()
		mu.Unlock()
	})
	return r, nil
}
