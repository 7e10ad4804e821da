package sys

import "golang.org/x/sys/unix"

// The path operations behind bind_anon and the long-path (bindat /
// connectat) emulation in runtime/sock.

// Mkdirat makes the directory path relative to dirfd.
func Mkdirat(dirfd int, path string, mode uint32) error {
	return Wrap("mkdir", path, retry(func() error { return unix.Mkdirat(dirfd, path, mode) }))
}

// Unlinkat removes path relative to dirfd (a directory with AT_REMOVEDIR).
func Unlinkat(dirfd int, path string, flags int) error {
	op := "unlink"
	if flags&unix.AT_REMOVEDIR != 0 {
		op = "rmdir"
	}
	return Wrap(op, path, retry(func() error { return unix.Unlinkat(dirfd, path, flags) }))
}

// Linkat makes newpath (relative to newdirfd) a hard link to oldpath
// (relative to olddirfd); addr names it in errors.
func Linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
	return Wrap("link", newpath, retry(func() error { return unix.Linkat(olddirfd, oldpath, newdirfd, newpath, flags) }))
}

// Fchmodat changes the mode of path relative to dirfd.
func Fchmodat(dirfd int, path string, mode uint32) error {
	return Wrap("chmod", path, retry(func() error { return unix.Fchmodat(dirfd, path, mode, 0) }))
}

// Fstatat stats path relative to dirfd.
func Fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error {
	return Wrap("stat", path, unix.Fstatat(dirfd, path, st, flags))
}

// Statfs reports the file system that holds path.
func Statfs(path string, st *unix.Statfs_t) error {
	return Wrap("statfs", path, unix.Statfs(path, st))
}
