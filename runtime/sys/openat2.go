package sys

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// openat2(2) and its resolve flags: how a directory handle becomes a
// capability. RESOLVE_BENEATH and RESOLVE_IN_ROOT keep a lookup inside the
// directory, the others refuse symbolic links, magic links (/proc/PID/fd)
// or mount crossings on the way.

// ResolveCached is RESOLVE_CACHED (Linux 5.12), missing from x/sys.
const ResolveCached = 0x20

// resolveNames lists the resolve flags in the order errors name them.
var resolveNames = []struct {
	name string
	flag uint64
}{
	{"beneath", unix.RESOLVE_BENEATH},
	{"in_root", unix.RESOLVE_IN_ROOT},
	{"no_symlinks", unix.RESOLVE_NO_SYMLINKS},
	{"no_magiclinks", unix.RESOLVE_NO_MAGICLINKS},
	{"no_xdev", unix.RESOLVE_NO_XDEV},
	{"cached", ResolveCached},
}

// ResolveFlag maps "beneath", "BENEATH" or "RESOLVE_BENEATH" to its bit.
func ResolveFlag(s string) (uint64, bool) {
	s = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "RESOLVE_"), "resolve_"))
	for _, r := range resolveNames {
		if r.name == s {
			return r.flag, true
		}
	}
	return 0, false
}

// ResolveFlagNames lists the accepted names (for "did you mean").
func ResolveFlagNames() []string {
	out := make([]string, len(resolveNames))
	for i, r := range resolveNames {
		out[i] = r.name
	}
	return out
}

// ResolveString formats resolve bits as "RESOLVE_BENEATH|RESOLVE_NO_XDEV".
func ResolveString(flags uint64) string {
	var parts []string
	for _, r := range resolveNames {
		if flags&r.flag != 0 {
			parts = append(parts, "RESOLVE_"+strings.ToUpper(r.name))
		}
	}
	return strings.Join(parts, "|")
}

// Openat2 opens path relative to dirfd with how's flags (always
// close-on-exec) and resolve restrictions. A refusal caused by a resolve
// flag names that flag: EXDEV for a path that leaves the directory or
// crosses a mount, ELOOP for a refused link, EAGAIN for RESOLVE_CACHED.
func Openat2(dirfd int, path string, how unix.OpenHow) (int, error) {
	how.Flags |= unix.O_CLOEXEC
	fd, err := retryFd(func() (int, error) { return unix.Openat2(dirfd, path, &how) })
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ENOSYS) {
		return -1, Errorf("openat2", path, unix.ENOSYS, "openat2 needs Linux 5.6 or newer")
	}
	return -1, &Error{Op: "openat2", Addr: path, Err: err, Hint: resolveHint(err, how.Resolve)}
}

func resolveHint(err error, r uint64) string {
	var named []string
	add := func(flag uint64, why string) {
		if r&flag != 0 {
			named = append(named, why+" ("+ResolveString(flag)+")")
		}
	}
	switch ErrnoOf(err) {
	case unix.EXDEV:
		add(unix.RESOLVE_BENEATH, "the path leaves the directory")
		add(unix.RESOLVE_IN_ROOT, "the path leaves the directory")
		add(unix.RESOLVE_NO_XDEV, "the path crosses a mount point")
	case unix.ELOOP:
		add(unix.RESOLVE_NO_SYMLINKS, "the path has a symbolic link")
		add(unix.RESOLVE_NO_MAGICLINKS, "the path has a magic link such as /proc/PID/fd/N")
		add(unix.RESOLVE_BENEATH, "the path has a magic link, which RESOLVE_BENEATH refuses")
		add(unix.RESOLVE_IN_ROOT, "the path has a magic link, which RESOLVE_IN_ROOT refuses")
	case unix.EAGAIN:
		add(ResolveCached, "the lookup is not in the dentry cache")
	}
	if len(named) == 0 {
		return ""
	}
	return "refused by resolve flag: " + strings.Join(named, "; or ")
}

// ReadDirNamesAt lists the entries of directory fd (not "." or ".."). It
// reads a new description (openat "." from fd), so fd's offset and an
// O_PATH fd both work.
func ReadDirNamesAt(fd int) ([]string, error) {
	d, err := Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer Close(d)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(d, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, Wrap("getdents64", FdAddr(fd), err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
