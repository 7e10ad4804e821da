// Package guard makes things on disk whose removal is tied to an owned
// descriptor: closing the handle (explicitly, or when its runtime ends)
// removes what was made, and only that. "Touch only what you made": each
// guard remembers the inode it made and leaves a path alone once it names
// something else.
package guard

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/reap"
	"github.com/fdwire/fdwire/runtime/sys"
)

// sameInode reports whether path (not followed) is still dev/ino.
func sameInode(path string, dev, ino uint64) bool {
	var now unix.Stat_t
	return sys.Lstat(path, &now) == nil && now.Dev == dev && now.Ino == ino
}

// TempDir makes a fresh 0700 directory under $TMPDIR named prefix-XXXX,
// and returns it with an O_PATH handle to it, tagged tag, whose closing
// removes the whole tree, as long as the path still names the directory
// that was made.
func TempDir(prefix, tag string) (string, *fdio.FD, error) {
	dir, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return "", nil, sys.Wrap("mkdtemp", os.TempDir(), err)
	}
	n, err := sys.Openat(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return "", nil, err
	}
	var st unix.Stat_t
	if err := sys.Fstat(n, &st); err != nil {
		sys.Close(n)
		os.Remove(dir)
		return "", nil, err
	}
	g := fdio.Own(n)
	g.Tag(tag)
	g.OnClose(func() {
		if sameInode(dir, st.Dev, st.Ino) {
			os.RemoveAll(dir)
		}
	})
	return dir, g, nil
}

// Cgroup makes a fresh cgroup v2 group (see reap.NewGroup) and returns its
// path with a handle to its directory, tagged tag. Closing the handle
// kills whatever is left in the group, waits (up to a second) for it to
// empty, and removes it.
func Cgroup(prefix, tag string) (string, *fdio.FD, error) {
	g, err := reap.NewGroup(prefix)
	if err != nil {
		return "", nil, err
	}
	n, err := g.Open()
	if err != nil {
		g.Remove()
		return "", nil, err
	}
	h := fdio.Own(n)
	h.Tag(tag)
	h.OnClose(func() { g.End(200) })
	return g.Path, h, nil
}

// UnlinkOnClose removes path when f closes, but only while path is still
// the inode it is now: a later file or socket of the same name, made by
// someone else, is left alone. The inode is held open (O_PATH) until then,
// so its number cannot be reused by a newcomer and fool the comparison. A
// relative path is made absolute now, so a later chdir does not move it.
func UnlinkOnClose(f *fdio.FD, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return sys.Wrap("unlink_on_close", path, err)
	}
	n, err := sys.Openat(unix.AT_FDCWD, abs, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := sys.Fstat(n, &st); err != nil {
		sys.Close(n)
		return err
	}
	f.OnClose(func() {
		if sameInode(abs, st.Dev, st.Ino) {
			os.Remove(abs)
		}
		sys.Close(n)
	})
	return nil
}
