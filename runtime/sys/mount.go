package sys

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The namespace and fd-based mount calls behind runtime/ns: setns and
// unshare, the mount API (fsopen, fsmount, open_tree, move_mount,
// mount_setattr), pivot_root, and execveat.

// nsIoctl values (linux/nsfs.h): NSIO is 0xb7.
const (
	nsGetNstype = 0xb703 // NS_GET_NSTYPE: the CLONE_NEW* type of an nsfd
)

// Setns moves the calling thread into the namespace nsfd refers to (an
// nsfd, or a pidfd with one or more CLONE_NEW* bits in nstype).
func Setns(fd, nstype int, what string) error {
	return Wrap("setns", what, retry(func() error { return unix.Setns(fd, nstype) }))
}

// Unshare gives the calling thread new namespaces (or its own fs_struct).
func Unshare(flags int, what string) error {
	return Wrap("unshare", what, unix.Unshare(flags))
}

// NsType returns the CLONE_NEW* type of a namespace descriptor.
func NsType(fd int) (int, error) {
	t, err := unix.IoctlRetInt(fd, nsGetNstype)
	return t, Wrap("ioctl NS_GET_NSTYPE", FdAddr(fd), err)
}

// Mount is mount(2), used here only for propagation changes (MS_PRIVATE).
func Mount(source, target, fstype string, flags uintptr, data string) error {
	return Wrap("mount", target, unix.Mount(source, target, fstype, flags, data))
}

// Fsopen starts a new file system context (close-on-exec).
func Fsopen(fstype string) (int, error) {
	fd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	return fd, Wrap("fsopen", fstype, err)
}

// FsconfigString sets key=value on a file system context.
func FsconfigString(fd int, key, value, what string) error {
	return Wrap("fsconfig "+key, what, unix.FsconfigSetString(fd, key, value))
}

// FsconfigCreate creates the superblock of a context.
func FsconfigCreate(fd int, what string) error {
	return Wrap("fsconfig create", what, unix.FsconfigCreate(fd))
}

// Fsmount makes a detached mount of a created context (close-on-exec).
func Fsmount(fd int, attrs int, what string) (int, error) {
	m, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attrs)
	return m, Wrap("fsmount", what, err)
}

// OpenTree with OPEN_TREE_CLONE copies the mount at dirfd (AT_EMPTY_PATH)
// into a detached tree; close-on-exec is always added.
func OpenTree(dirfd int, path string, flags uint, what string) (int, error) {
	fd, err := unix.OpenTree(dirfd, path, flags|unix.OPEN_TREE_CLOEXEC)
	return fd, Wrap("open_tree", what, err)
}

// MoveMount attaches (or moves) a mount.
func MoveMount(fromDirfd int, fromPath string, toDirfd int, toPath string, flags int, what string) error {
	return Wrap("move_mount", what, unix.MoveMount(fromDirfd, fromPath, toDirfd, toPath, flags))
}

// MountSetattr changes mount attributes (read-only, nosuid, ...).
func MountSetattr(dirfd int, path string, flags uint, attr *unix.MountAttr, what string) error {
	return Wrap("mount_setattr", what, unix.MountSetattr(dirfd, path, flags, attr))
}

// PivotRoot is pivot_root(2).
func PivotRoot(newRoot, putOld string) error {
	return Wrap("pivot_root", newRoot, unix.PivotRoot(newRoot, putOld))
}

// Umount2 unmounts target.
func Umount2(target string, flags int) error {
	return Wrap("umount2", target, unix.Unmount(target, flags))
}

// Fchdir changes the working directory to fd.
func Fchdir(fd int) error {
	return Wrap("fchdir", FdAddr(fd), unix.Fchdir(fd))
}

// Chdir changes the working directory.
func Chdir(path string) error {
	return Wrap("chdir", path, unix.Chdir(path))
}

// Mknodat makes a device node relative to dirfd.
func Mknodat(dirfd int, path string, mode uint32, dev int) error {
	return Wrap("mknod", path, unix.Mknodat(dirfd, path, mode, dev))
}

// Execveat runs the program fd refers to (path "" with AT_EMPTY_PATH).
// It returns only on failure.
func Execveat(fd int, path string, argv, env []string, flags int, what string) error {
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return Wrap("execveat", what, err)
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return Wrap("execveat", what, err)
	}
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return Wrap("execveat", what, err)
	}
	_, _, en := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), uintptr(flags), 0)
	if en != 0 {
		return Wrap("execveat", what, en)
	}
	return nil
}
