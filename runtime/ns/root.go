package ns

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// The new root. In the parent, prepareRoot clones each handed-in
// directory's mount (open_tree OPEN_TREE_CLONE|AT_RECURSIVE), so that the
// handle, not a name, decides what the child sees. The kernel lets only a
// process with CAP_SYS_ADMIN over the parent's mount namespace clone
// there; an unprivileged parent gets EPERM, and then the child clones the
// directory in its own copy of the namespace, found by the handle's path
// and accepted only if it is the same inode (device and inode number).
//
// In the child, buildRoot makes the mount namespace private, clones what
// is still to clone, mounts a fresh tmpfs over "/", attaches every entry
// in order (mount points are created only on fdwire's own tmpfs, never in
// a handed-in directory), pivots into it, detaches the old root, and
// makes the new root's tmpfs read-only.

const rootWhat = "new root"

func (p *Plan) prepareRoot(entries []Entry) error {
	p.Child.HasRoot = true
	seen := map[string]bool{}
	for i, e := range entries {
		what := fmt.Sprintf("root[%d]", i+1)
		set := 0
		for _, b := range []bool{e.Bind != nil, e.BindPath != "", e.Tmpfs != "", e.Proc != "", e.Dev != ""} {
			if b {
				set++
			}
		}
		if set != 1 {
			return errf(what, "an entry is exactly one of {bind = handle_or_path, at = ...}, {tmpfs = path}, {proc = path}, {dev = path}")
		}
		m := ChildMount{Tree: -1, Src: -1, RO: e.RO}
		at := e.At
		switch {
		case e.Tmpfs != "":
			m.Kind, at = "tmpfs", e.Tmpfs
		case e.Proc != "":
			m.Kind, at = "proc", e.Proc
		case e.Dev != "":
			m.Kind, at = "dev", e.Dev
		default:
			m.Kind = "bind"
		}
		if m.Kind != "bind" && e.At != "" {
			return errf(what, "at belongs to bind entries; a %s entry names its place itself", m.Kind)
		}
		c, err := cleanTarget(what, at)
		if err != nil {
			return err
		}
		if seen[c] {
			return errf(what, "two entries mount at %s", c)
		}
		seen[c] = true
		m.At = c
		if m.Kind == "bind" {
			if err := p.prepareBind(what, e, &m); err != nil {
				return err
			}
		}
		p.Child.Root = append(p.Child.Root, m)
	}
	return nil
}

func (p *Plan) prepareBind(what string, e Entry, m *ChildMount) error {
	h := e.Bind
	if h == nil {
		n, err := sys.Openat(unix.AT_FDCWD, e.BindPath, unix.O_PATH, 0)
		if err != nil {
			return sys.WithHint(err, what+".bind")
		}
		h = fdio.Own(n)
		p.owned = append(p.owned, h)
	}
	n, err := h.Num()
	if err != nil {
		return sys.Errorf("spawn", what+".bind", unix.EBADF, "%s.bind is a closed handle", what)
	}
	var st unix.Stat_t
	if err := sys.Fstat(n, &st); err != nil {
		return err
	}
	k := st.Mode & unix.S_IFMT
	if k != unix.S_IFDIR && k != unix.S_IFREG {
		return sys.Errorf("spawn", what+".bind", unix.ENOTDIR, "%s.bind must be a directory (or regular file) handle, not a %s", what, modeKind(st.Mode))
	}
	m.File = k != unix.S_IFDIR
	t, err := sys.OpenTree(n, "", unix.OPEN_TREE_CLONE|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, what+".bind")
	if err == nil {
		tree := fdio.Own(t)
		p.owned = append(p.owned, tree)
		if m.RO {
			if err := setRO(t, true, what); err != nil {
				return err
			}
		}
		m.Tree = p.aux(tree)
		return nil
	}
	if sys.ErrnoOf(err) != unix.EPERM {
		return err
	}
	// Unprivileged: the child will clone its own copy (see above).
	l, lerr := sys.Readlink(fmt.Sprintf("/proc/self/fd/%d", n))
	if lerr != nil || !strings.HasPrefix(l, "/") || strings.HasSuffix(l, " (deleted)") {
		return sys.Errorf("spawn", what+".bind", unix.ESTALE, "without CAP_SYS_ADMIN the child re-finds a bound directory by its path, and this handle's directory has none (%q)", l)
	}
	m.Path, m.Dev, m.Ino = l, st.Dev, st.Ino
	m.Src = p.aux(h)
	return nil
}

func setRO(fd int, recursive bool, what string) error {
	fl := uint(unix.AT_EMPTY_PATH)
	if recursive {
		fl |= unix.AT_RECURSIVE
	}
	return sys.MountSetattr(fd, "", fl, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}, what+" read-only")
}

// newFs makes a detached mount of a fresh file system.
func newFs(fstype, mode, what string) (int, error) {
	fc, err := sys.Fsopen(fstype)
	if err != nil {
		return -1, err
	}
	defer sys.Close(fc)
	if mode != "" {
		if err := sys.FsconfigString(fc, "mode", mode, what); err != nil {
			return -1, err
		}
	}
	if err := sys.FsconfigCreate(fc, what); err != nil {
		if fstype == "proc" && sys.ErrnoOf(err) == unix.EPERM {
			return -1, sys.WithHint(err, "mounting proc needs CAP_SYS_ADMIN over the pid namespace: add \"pid\" to namespaces")
		}
		return -1, err
	}
	return sys.Fsmount(fc, 0, what)
}

func (c *ChildSpec) buildRoot() (err error) {
	var opened []int
	keep := func(fd int) int { opened = append(opened, fd); return fd }
	defer func() {
		for _, fd := range opened {
			sys.Close(fd)
		}
	}()
	if err := sys.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return sys.WithHint(err, "making the new mount namespace private")
	}
	// Everything that is cloned from the old root is cloned now, while
	// "/" still leads there.
	src := make([]int, len(c.Root))
	var devNodes [][]int
	for i, m := range c.Root {
		what := fmt.Sprintf("root[%d] (%s %s)", i+1, m.Kind, m.At)
		switch m.Kind {
		case "bind":
			if m.Tree >= 0 {
				src[i] = c.fd(m.Tree)
				continue
			}
			t, err := c.cloneByPath(m, what)
			if err != nil {
				return err
			}
			src[i] = keep(t)
		case "tmpfs":
			t, err := newFs("tmpfs", "1777", what)
			if err != nil {
				return err
			}
			src[i] = keep(t)
		case "proc":
			t, err := newFs("proc", "", what)
			if err != nil {
				return err
			}
			src[i] = keep(t)
		case "dev":
			t, err := newFs("tmpfs", "0755", what)
			if err != nil {
				return err
			}
			src[i] = keep(t)
			nodes := make([]int, len(DevNodes))
			for j, d := range DevNodes {
				n, err := sys.OpenTree(unix.AT_FDCWD, "/dev/"+d, unix.OPEN_TREE_CLONE, what+" /dev/"+d)
				if err != nil {
					return err
				}
				nodes[j] = keep(n)
			}
			devNodes = append(devNodes, nodes)
		}
	}
	root, err := newFs("tmpfs", "0755", rootWhat)
	if err != nil {
		return err
	}
	keep(root)
	if err := sys.MoveMount(root, "", unix.AT_FDCWD, "/", unix.MOVE_MOUNT_F_EMPTY_PATH, rootWhat); err != nil {
		return err
	}
	var rootSt unix.Stat_t
	if err := sys.Fstat(root, &rootSt); err != nil {
		return err
	}
	dev := 0
	for i, m := range c.Root {
		what := fmt.Sprintf("root[%d] (%s %s)", i+1, m.Kind, m.At)
		target, err := mountPoint(root, rootSt.Dev, m.At, m.File, what)
		if err != nil {
			return err
		}
		err = sys.MoveMount(src[i], "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH, what)
		sys.Close(target)
		if err != nil {
			return err
		}
		if m.Kind == "dev" {
			for j, d := range DevNodes {
				f, err := sys.Openat(src[i], d, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o666)
				if err != nil {
					return err
				}
				sys.Close(f)
				if err := sys.MoveMount(devNodes[dev][j], "", src[i], d, unix.MOVE_MOUNT_F_EMPTY_PATH, what+" "+d); err != nil {
					return err
				}
			}
			dev++
			if err := setRO(src[i], false, what); err != nil {
				return err
			}
		} else if m.RO && m.Kind != "bind" {
			if err := setRO(src[i], true, what); err != nil {
				return err
			}
		}
	}
	if err := sys.Fchdir(root); err != nil {
		return err
	}
	if err := sys.PivotRoot(".", "."); err != nil {
		return err
	}
	if err := sys.Umount2(".", unix.MNT_DETACH); err != nil {
		return sys.WithHint(err, "detaching the old root")
	}
	if err := sys.Chdir("/"); err != nil {
		return err
	}
	return setRO(root, false, rootWhat)
}

// cloneByPath is the unprivileged bind: clone the copy of the handed-in
// directory in this mount namespace, if the path still leads to it.
func (c *ChildSpec) cloneByPath(m ChildMount, what string) (int, error) {
	f, err := sys.Openat(unix.AT_FDCWD, m.Path, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, sys.WithHint(err, what+": re-finding the handed-in directory by its path in the child's mount namespace")
	}
	defer sys.Close(f)
	var st unix.Stat_t
	if err := sys.Fstat(f, &st); err != nil {
		return -1, err
	}
	if st.Dev != m.Dev || st.Ino != m.Ino {
		return -1, sys.Errorf("spawn", what, unix.ESTALE, "the handed-in directory is no longer at %s (moved or covered); without CAP_SYS_ADMIN the child can bind it only through its path", m.Path)
	}
	t, err := sys.OpenTree(f, "", unix.OPEN_TREE_CLONE|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, what)
	if err != nil {
		return -1, err
	}
	if m.RO {
		if err := setRO(t, true, what); err != nil {
			sys.Close(t)
			return -1, err
		}
	}
	return t, nil
}

// mountPoint walks at from root without following symbolic links,
// creating missing components only on the new root's own tmpfs (device
// rootDev); it returns an O_PATH descriptor of the mount point.
func mountPoint(root int, rootDev uint64, at string, file bool, what string) (int, error) {
	parts := strings.Split(strings.TrimPrefix(at, "/"), "/")
	cur, err := sys.DupCloexec(root)
	if err != nil {
		return -1, err
	}
	how := unix.OpenHow{Flags: unix.O_PATH, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	for i, comp := range parts {
		last := i == len(parts)-1
		next, err := sys.Openat2(cur, comp, how)
		if errors.Is(err, unix.ENOENT) {
			var st unix.Stat_t
			if err := sys.Fstat(cur, &st); err != nil {
				sys.Close(cur)
				return -1, err
			}
			if st.Dev != rootDev {
				sys.Close(cur)
				return -1, sys.Errorf("spawn", what, unix.ENOENT, "mount point %s: %q does not exist inside an earlier entry's mount, and fdwire creates names only on the new root's own tmpfs", at, comp)
			}
			if last && file {
				f, cerr := sys.Openat(cur, comp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o444)
				if cerr == nil {
					sys.Close(f)
				}
				err = cerr
			} else {
				err = sys.Mkdirat(cur, comp, 0o755)
			}
			if err == nil {
				next, err = sys.Openat2(cur, comp, how)
			}
		}
		sys.Close(cur)
		if err != nil {
			return -1, sys.WithHint(err, what+": mount point "+at)
		}
		cur = next
	}
	return cur, nil
}
