package sys

import "golang.org/x/sys/unix"

// Filesystem and credential calls used by the tools (socket directories,
// waiting for a path, dropping privileges).

// InotifyInit1 makes a close-on-exec inotify descriptor.
func InotifyInit1(flags int) (int, error) {
	fd, err := unix.InotifyInit1(flags | unix.IN_CLOEXEC)
	return fd, Wrap("inotify_init1", "", err)
}

// InotifyAddWatch watches path for mask events.
func InotifyAddWatch(fd int, path string, mask uint32) (int, error) {
	wd, err := unix.InotifyAddWatch(fd, path, mask)
	return wd, Wrap("inotify_add_watch", path, err)
}

// Lstat stats path without following a final symbolic link.
func Lstat(path string, st *unix.Stat_t) error {
	return Wrap("lstat", path, retry(func() error { return unix.Lstat(path, st) }))
}

// Stat stats path.
func Stat(path string, st *unix.Stat_t) error {
	return Wrap("stat", path, retry(func() error { return unix.Stat(path, st) }))
}

// Mkdir makes a directory with mode (umask applies).
func Mkdir(path string, mode uint32) error {
	return Wrap("mkdir", path, unix.Mkdir(path, mode))
}

// Chmod sets path's mode.
func Chmod(path string, mode uint32) error {
	return Wrap("chmod", path, unix.Chmod(path, mode))
}

// Unlink removes a name that is not a directory.
func Unlink(path string) error {
	return Wrap("unlink", path, unix.Unlink(path))
}

// Access checks path for mode (unix.X_OK, ...) with the effective ids, as
// execve will (faccessat with AT_EACCESS).
func Access(path string, mode uint32) error {
	return Wrap("access", path, retry(func() error { return unix.Faccessat(unix.AT_FDCWD, path, mode, unix.AT_EACCESS) }))
}
