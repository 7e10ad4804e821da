// Package fswait waits for a path to appear with inotify: no polling
// loop, no missed creation. A watch goes on the nearest existing ancestor
// of the path and moves down as directories appear.
package fswait

import (
	"errors"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

const mask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_ONLYDIR | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// Open makes the inotify descriptor a wait uses. It is private to the
// caller, so it is non-blocking.
func Open() (*fdio.FD, error) {
	n, err := sys.InotifyInit1(unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return fdio.Own(n), nil
}

// Try returns nil when path exists and fdio.ErrAgain otherwise, after
// making sure w watches the nearest existing ancestor, so that w becomes
// readable when something that may complete the path is created. It
// drains w's pending events; call it again each time w is readable.
func Try(w *fdio.FD, path string) error {
	n, err := w.Num()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return sys.Wrap("wait_path", path, err)
	}
	var st unix.Stat_t
	if sys.Lstat(abs, &st) == nil {
		return nil
	}
	drain(n)
	// Each round watches at least one level deeper than the last, unless
	// directories are removed and made again meanwhile: bounded anyway.
	for round := 0; round < 1000; round++ {
		// Watch the nearest existing ancestor before looking below it.
		dir := filepath.Dir(abs)
		for ; ; dir = filepath.Dir(dir) {
			_, err := sys.InotifyAddWatch(n, dir, mask)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
				return err
			}
			if dir == "/" {
				return err
			}
			if afterMiss != nil {
				afterMiss(dir)
			}
		}
		// The entry the path needs next below dir: made from now on, it is
		// an event on dir. Made already (between the watch that failed on
		// it and the one on dir), no event will come: look again, deeper.
		next := abs
		for filepath.Dir(next) != dir {
			next = filepath.Dir(next)
		}
		var err error
		if next == abs {
			err = sys.Lstat(next, &st)
		} else {
			err = sys.Stat(next, &st) // the watch follows a symlink too
		}
		switch {
		case err == nil && next == abs:
			return nil
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			continue
		case err == nil:
			// Not a directory: the path cannot appear until it is replaced,
			// which is an event on dir.
			return fdio.ErrAgain
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
			return fdio.ErrAgain
		default:
			return err
		}
	}
	return fdio.ErrAgain
}

// afterMiss, when set (by tests), runs after a watch on dir failed because
// dir does not exist yet: the moment a creation could slip by unseen.
var afterMiss func(dir string)

func drain(n int) {
	buf := make([]byte, 4096)
	for {
		if r, err := sys.Read(n, buf); err != nil || r <= 0 {
			return
		}
	}
}

// Wait blocks until path exists, for Go callers without a loop. A zero
// timeout waits forever; otherwise it fails with ETIMEDOUT.
func Wait(path string, timeout time.Duration) error {
	w, err := Open()
	if err != nil {
		return err
	}
	defer w.Close()
	err = fdio.Block(w, unix.POLLIN, timeout, "wait_path "+path, func() error { return Try(w, path) })
	return err
}
