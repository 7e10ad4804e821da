package proc

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/reap"
	"github.com/fdwire/fdwire/runtime/sys"
)

// The children cgroup. The death signal ends an owner's children when
// this process dies, but not what they left behind: a grandchild whose
// parent exited (`sh -c 'sleep 300 &'`) has no death signal and, after a
// SIGKILL of this process, nobody to end it. So an owner made with
// OwnerOptions.Cgroup puts every child that is not detached and has no
// cgroup of its own (Attr.Cgroup) into one cgroup v2 group, made under
// this process's cgroup at the first such spawn; the clone does it
// (CLONE_INTO_CGROUP), so nothing the child forks starts outside. The
// group is told to the warden, which kills what is in it (cgroup.kill)
// and removes it when this process ends without closing the owner; Close
// does the same after the ordered teardown. Where no group can be made
// (no cgroup2, no write access to our own cgroup: an unprivileged run
// without delegation, before Linux 5.14) children start where this
// process is, and such a grandchild outlives a SIGKILL (docs/guide.md).

// childGroup is an owner's children cgroup, made lazily.
type childGroup struct {
	made bool
	g    *reap.Group
	fd   int    // its directory, for CLONE_INTO_CGROUP; -1 without one
	rel  string // its path as /proc/PID/cgroup shows it
	err  error  // why there is none
}

// childCgroup returns the group's directory descriptor, making the group
// at the first call; -1 when there is none.
func (o *Owner) childCgroup() int {
	o.groupMu.Lock()
	defer o.groupMu.Unlock()
	c := &o.group
	if c.made {
		return c.fd
	}
	c.made, c.fd, c.err = true, -1, nil
	defer func() {
		// Out of descriptors is no reason never to have a group: the next
		// spawn tries again.
		if e := sys.ErrnoOf(c.err); c.g == nil && (e == unix.EMFILE || e == unix.ENFILE) {
			c.made = false
		}
	}()
	g, err := reap.NewGroup("fdwire-children")
	if err != nil {
		c.err = err
		return -1
	}
	if err := usableGroup(g); err != nil {
		g.Remove()
		c.err = err
		return -1
	}
	n, err := g.Open()
	if err != nil {
		g.Remove()
		c.err = err
		return -1
	}
	c.g, c.fd = g, n
	if own, ok := cgroupOf(os.Getpid()); ok {
		c.rel = strings.TrimSuffix(own, "/") + "/" + filepath.Base(g.Path)
	}
	if o.warden != nil {
		o.warden.Watch("cgroup", g.Path) // best effort: Close still ends it
	}
	return n
}

// usableGroup checks what a clone into g needs besides the group: write
// access to its cgroup.procs and to our own group's (the kernel checks the
// common ancestor), and a domain group (a threaded one takes no process).
func usableGroup(g *reap.Group) error {
	for _, p := range []string{filepath.Join(g.Path, "cgroup.procs"), filepath.Join(filepath.Dir(g.Path), "cgroup.procs")} {
		if err := sys.Faccessat(unix.AT_FDCWD, p, unix.W_OK, unix.AT_EACCESS); err != nil {
			return sys.Wrap("cgroup", p, sys.ErrnoOf(err))
		}
	}
	b, err := sys.ReadFile(filepath.Join(g.Path, "cgroup.type"))
	if err == nil && strings.TrimSpace(string(b)) != "domain" {
		return sys.Errorf("cgroup", g.Path, unix.ENOTSUP, "a %s cgroup takes no processes", strings.TrimSpace(string(b)))
	}
	return nil
}

// placeChild puts a spawn that is not detached and names no cgroup into
// the children group, and tells its readiness that this group is not the
// child's own (its other members are not the child: see notify.go).
func (o *Owner) placeChild(a *Attr, pl *plan) {
	if !o.useGroup || a.Detach || pl.cgroup >= 0 {
		return
	}
	pl.cgroup = o.childCgroup()
	if pl.ready != nil && pl.cgroup >= 0 {
		o.groupMu.Lock()
		pl.ready.shared = o.group.rel
		o.groupMu.Unlock()
	}
}

// ChildrenCgroup is the path of the owner's children cgroup, or "" and
// why there is none (nil error: not made yet, or not asked for).
func (o *Owner) ChildrenCgroup() (string, error) {
	o.groupMu.Lock()
	defer o.groupMu.Unlock()
	if o.group.g != nil {
		return o.group.g.Path, nil
	}
	return "", o.group.err
}

// endGroup kills what is left in the children group and removes it; for
// Close, after the ordered teardown (raw syscalls only), and for Exec,
// which hands the children over instead (releaseGroup).
func (o *Owner) endGroup() {
	o.groupMu.Lock()
	c := o.group
	o.group = childGroup{made: true, fd: -1}
	o.groupMu.Unlock()
	if c.g == nil {
		return
	}
	sys.Close(c.fd)
	c.g.End(200)
	o.warden.Unwatch(c.g.Path)
}

// releaseGroup moves every process of the children group back to our own
// group and removes it, before an exec: the new program inherits the
// children but knows nothing of the group, which nobody would remove. A
// later spawn (if the exec fails) makes a new one.
func (o *Owner) releaseGroup() {
	o.groupMu.Lock()
	c := o.group
	o.group = childGroup{}
	o.groupMu.Unlock()
	if c.g == nil {
		return
	}
	sys.Close(c.fd)
	own := &reap.Group{Path: filepath.Dir(c.g.Path)}
	for i := 0; i < 100; i++ {
		pids := c.g.Pids()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			own.Add(pid)
		}
	}
	c.g.Remove()
	o.warden.Unwatch(c.g.Path)
}
