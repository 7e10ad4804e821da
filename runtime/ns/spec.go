package ns

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Spec says what a child gets instead of the parent's namespaces and
// file system.
type Spec struct {
	// New lists namespaces to create ("user", "mount", "net", "pid",
	// "ipc", "uts", "cgroup", "time").
	New []string
	// UIDMap and GIDMap apply to a new user namespace; nil means the
	// caller's id mapped to itself. setgroups is always denied.
	UIDMap, GIDMap []IDMap
	// Join maps namespace names to handles: an nsfd (/proc/PID/ns/net
	// opened) or a pidfd, whose namespace of that type is entered.
	Join map[string]*fdio.FD
	// Root, when not nil, builds the child's root from these entries on
	// a fresh tmpfs (needs a new mount namespace).
	Root []Entry
	// NoNewPrivs sets PR_SET_NO_NEW_PRIVS before the exec.
	NoNewPrivs bool
	// Exe, when set, is the program run (execveat with AT_EMPTY_PATH)
	// instead of looking argv[0] up.
	Exe *fdio.FD
}

// Entry is one mount of a Root. Exactly one of Bind, BindPath, Tmpfs,
// Proc or Dev is set; At is where it goes (for Tmpfs, Proc and Dev the
// value itself is the place).
type Entry struct {
	Bind     *fdio.FD // a directory (or file) handle
	BindPath string   // a path, opened by Prepare
	At       string
	RO       bool
	Tmpfs    string
	Proc     string
	Dev      string
}

// What is the entry's kind and place, for messages.
func (e Entry) what() string {
	switch {
	case e.Tmpfs != "":
		return "tmpfs " + e.Tmpfs
	case e.Proc != "":
		return "proc " + e.Proc
	case e.Dev != "":
		return "dev " + e.Dev
	}
	return "bind " + e.At
}

// DevNodes are the device nodes a {dev=} entry gets, bound from the
// parent's /dev (a user namespace cannot mknod).
var DevNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Plan is a prepared Spec: what the parent does at the fork and what the
// child does before its exec.
type Plan struct {
	// CloneFlags are the CLONE_NEW* flags for the fork.
	CloneFlags int
	UIDMap     []syscall.SysProcIDMap
	GIDMap     []syscall.SysProcIDMap
	// ParentJoins are entered on the forking thread before the fork.
	ParentJoins []JoinFd
	// Aux are handles the child must hold (above its map) for Child; the
	// caller places them at consecutive numbers and sets Child.AuxBase.
	Aux []*fdio.FD
	// Ambient: raise these capabilities across the trampoline's exec, so
	// that it can set up a user namespace whose uid inside is not 0.
	Ambient   []uintptr
	Child     ChildSpec
	owned     []*fdio.FD
	customMap bool
}

// JoinFd is one setns: a descriptor and the CLONE_NEW* types taken from it.
type JoinFd struct {
	FD    *fdio.FD
	Flags int
}

// Close releases what Prepare made (cloned mount trees, opened paths).
// Call it once the child has started (or failed to).
func (p *Plan) Close() {
	for _, f := range p.owned {
		f.Close()
	}
	p.owned = nil
}

func (p *Plan) aux(f *fdio.FD) int {
	for i, a := range p.Aux {
		if a == f {
			return i
		}
	}
	p.Aux = append(p.Aux, f)
	return len(p.Aux) - 1
}

// Prepare checks s and works out the plan. forExec prepares for
// proc.Exec, which has no fork: namespaces that apply only to children
// (user, pid, time) are refused there. Nothing is left open on error.
func Prepare(s *Spec, forExec bool) (_ *Plan, err error) {
	p := &Plan{}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	newFlags := 0
	for _, n := range s.New {
		f, ok := Flag(n)
		if !ok {
			return nil, errf("namespaces", "unknown namespace %q (known: %s)", n, strings.Join(Names(), ", "))
		}
		if newFlags&f != 0 {
			return nil, errf("namespaces", "%q is listed twice", n)
		}
		newFlags |= f
	}
	if forExec {
		if bad := newFlags & (unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWTIME); bad != 0 {
			return nil, errf("namespaces", "exec cannot create a %s namespace: a new user namespace needs a single-threaded process, and new pid and time namespaces apply only to children; use proc.spawn", names(bad))
		}
	}
	if (s.UIDMap != nil || s.GIDMap != nil) && newFlags&unix.CLONE_NEWUSER == 0 {
		return nil, errf("uid_map", "uid_map and gid_map apply to a new user namespace: add \"user\" to namespaces")
	}
	if newFlags&unix.CLONE_NEWUSER != 0 {
		um, gm := s.UIDMap, s.GIDMap
		if um == nil {
			um = DefaultUIDMap()
		}
		if gm == nil {
			gm = DefaultGIDMap()
		}
		if err := checkMap("uid_map", um); err != nil {
			return nil, err
		}
		if err := checkMap("gid_map", gm); err != nil {
			return nil, err
		}
		p.UIDMap, p.GIDMap = sysMap(um), sysMap(gm)
		p.customMap = s.UIDMap != nil || s.GIDMap != nil
		// The trampoline runs as the mapped uid; unless that is 0 its
		// exec would drop the capabilities it needs for the set-up.
		p.Ambient = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_SYS_CHROOT, unix.CAP_SETUID, unix.CAP_SETGID}
		p.Child.ClearAmbient = true
	}
	if err := p.joins(s, newFlags, forExec); err != nil {
		return nil, err
	}
	// The mount namespace is made in the child (after a mount join, and
	// after the directory trees were cloned); so are the others for exec.
	childNew := newFlags & unix.CLONE_NEWNS
	if forExec {
		childNew = newFlags
	}
	p.CloneFlags = newFlags &^ childNew
	p.Child.Unshare = childNew
	p.Child.LoopbackUp = newFlags&unix.CLONE_NEWNET != 0
	p.Child.NewPid = newFlags&unix.CLONE_NEWPID != 0
	p.Child.NoNewPrivs = s.NoNewPrivs
	p.Child.Exe = -1
	if s.Exe != nil {
		n, err := s.Exe.Num()
		if err != nil {
			return nil, sys.Errorf("spawn", "exe", unix.EBADF, "exe is a closed handle")
		}
		var st unix.Stat_t
		if err := sys.Fstat(n, &st); err != nil {
			return nil, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, sys.Errorf("spawn", "exe", unix.EACCES, "exe must be a handle of a regular file (an executable), not a %s", modeKind(st.Mode))
		}
		p.Child.Exe = p.aux(s.Exe)
	}
	if s.Root != nil {
		if newFlags&unix.CLONE_NEWNS == 0 {
			return nil, errf("root", "root needs a new mount namespace to build it in: add \"mount\" to namespaces")
		}
		if err := p.prepareRoot(s.Root); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// joins checks each join handle against the type it is given for.
func (p *Plan) joins(s *Spec, newFlags int, forExec bool) error {
	keys := make([]string, 0, len(s.Join))
	for k := range s.Join {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byFd := map[*fdio.FD]int{}
	var order []*fdio.FD
	for _, k := range keys {
		flag, ok := Flag(k)
		what := "join." + k
		if !ok {
			return errf(what, "unknown namespace %q (known: %s)", k, strings.Join(Names(), ", "))
		}
		if newFlags&flag != 0 {
			return errf(what, "the %s namespace is both joined and created: choose one", Name(flag))
		}
		switch flag {
		case unix.CLONE_NEWUSER:
			return sys.Errorf("spawn", what, unix.EINVAL, "joining a user namespace needs a single-threaded process (setns(2)), and fdwire's child set-up runs in the Go runtime; join the namespaces it owns instead, or create a new user namespace")
		case unix.CLONE_NEWPID, unix.CLONE_NEWTIME:
			if forExec {
				return sys.Errorf("spawn", what, unix.EINVAL, "a joined %s namespace applies only to children: exec cannot join it; use proc.spawn", k)
			}
		case unix.CLONE_NEWNS:
			if newFlags&unix.CLONE_NEWUSER != 0 {
				return sys.Errorf("spawn", what, unix.EINVAL, "join.mount with a new user namespace: the child would have no capability in the joined mount namespace's owner")
			}
		}
		h := s.Join[k]
		if h == nil {
			return sys.Errorf("spawn", what, unix.EBADF, "%s is missing", what)
		}
		n, err := h.Num()
		if err != nil {
			return sys.Errorf("spawn", what, unix.EBADF, "%s is a closed handle", what)
		}
		if err := checkNsHandle(n, flag, what); err != nil {
			return err
		}
		if _, ok := byFd[h]; !ok {
			order = append(order, h)
		}
		byFd[h] |= flag
	}
	for _, h := range order {
		fl := byFd[h]
		// The mount namespace is joined in the child, which still sees
		// its trampoline there; the others on the forking thread (or, for
		// exec, all in the trampoline).
		childPart := fl & unix.CLONE_NEWNS
		if forExec {
			childPart = fl
		}
		if pp := fl &^ childPart; pp != 0 {
			p.ParentJoins = append(p.ParentJoins, JoinFd{h, pp})
		}
		if childPart != 0 {
			p.Child.Joins = append(p.Child.Joins, ChildJoin{Aux: p.aux(h), Flags: childPart})
		}
	}
	return nil
}

// checkNsHandle accepts an nsfd of type flag, or a pidfd.
func checkNsHandle(n, flag int, what string) error {
	t, err := sys.NsType(n)
	if err == nil {
		if t != flag {
			return sys.Errorf("spawn", what, unix.EINVAL, "%s needs a %s namespace, but fd %d is a %s namespace", what, Name(flag), n, Name(t))
		}
		return nil
	}
	if isPidfd(n) {
		return nil
	}
	var st unix.Stat_t
	kind := "descriptor"
	if sys.Fstat(n, &st) == nil {
		kind = modeKind(st.Mode)
	}
	return sys.Errorf("spawn", what, unix.EINVAL, "%s needs a namespace descriptor (/proc/PID/ns/%s opened) or a pidfd, but fd %d is a %s", what, procName(flag), n, kind)
}

func procName(flag int) string {
	for _, k := range kinds {
		if k.flag == flag {
			return k.proc
		}
	}
	return "?"
}

// isPidfd recognises a pidfd by its fdinfo "Pid:" line (pidfs on 6.9+,
// an anon inode before).
func isPidfd(n int) bool {
	l, err := sys.Readlink(fmt.Sprintf("/proc/self/fd/%d", n))
	if err == nil && (l == "anon_inode:[pidfd]" || strings.HasPrefix(l, "pidfd:")) {
		return true
	}
	var fs unix.Statfs_t
	return sys.Fstatfs(n, &fs) == nil && fs.Type == 0x50494446 // PID_FS_MAGIC
}

func modeKind(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		return "pipe"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFLNK:
		return "symbolic link"
	}
	return "anonymous inode"
}

// cleanTarget checks a mount point of the new root: absolute, clean, not
// the root itself, and never climbing out with "..".
func cleanTarget(what, at string) (string, error) {
	if at == "" {
		return "", errf(what, "the mount point is missing (at = \"/path\")")
	}
	if !strings.HasPrefix(at, "/") {
		return "", errf(what, "mount point %q must be an absolute path inside the new root", at)
	}
	for _, c := range strings.Split(at, "/") {
		if c == ".." {
			return "", errf(what, "mount point %q is outside the new root (it has \"..\")", at)
		}
	}
	c := path.Clean(at)
	if c == "/" {
		return "", errf(what, "the new root itself is the fresh tmpfs; mount at a directory inside it")
	}
	return c, nil
}
