// Package privdrop looks up users and drops root privileges for good:
// supplementary groups, then real/effective/saved gid, then uid, then a
// check that root cannot be taken back. Go's syscall.Set* apply to every
// thread of the process (Go 1.16+), so no thread keeps root behind the
// caller's back. It is the one implementation of a drop in fdwire: the
// tools call it in this process, and runtime/proc's trampoline calls it
// in a child started with a uid or gid.
package privdrop

import (
	"os/user"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Cred is who to become. Groups are the supplementary groups: nil and
// empty both mean none (as setpriv --clear-groups), never "keep root's".
type Cred struct {
	Name     string
	Uid, Gid int
	Groups   []int
}

// Nobody is the conventional unprivileged user when /etc/passwd lacks one.
const Nobody = 65534

// Lookup resolves a user name or a numeric uid. A numeric uid without a
// passwd entry gets gid = uid; "nobody" without one is 65534.
func Lookup(spec string) (*Cred, error) {
	if spec == "" {
		return nil, sys.Errorf("lookup user", spec, unix.EINVAL, "empty user name")
	}
	var u *user.User
	var err error
	if id, perr := strconv.Atoi(spec); perr == nil {
		if id < 0 || id > 1<<32-2 {
			// 2^32-1 is (uid_t)-1, "no change"; larger ones would wrap.
			return nil, sys.Errorf("lookup user", spec, unix.EINVAL, "uid %d is out of range (0 to 4294967294)", id)
		}
		u, err = user.LookupId(spec)
		if err != nil {
			return &Cred{Name: spec, Uid: id, Gid: id}, nil
		}
	} else {
		u, err = user.Lookup(spec)
		if err != nil {
			if spec == "nobody" {
				return &Cred{Name: spec, Uid: Nobody, Gid: Nobody}, nil
			}
			return nil, sys.Errorf("lookup user", spec, unix.ENOENT, "no such user")
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &Cred{Name: u.Username, Uid: uid, Gid: gid}, nil
}

// Drop makes c the process's only identity. It refuses to return success
// unless getting root back fails.
func Drop(c *Cred) error {
	groups := c.Groups
	if groups == nil {
		groups = []int{}
	}
	if err := sys.Setgroups(groups); err != nil {
		return sys.WithHint(err, "dropping to "+c.Name)
	}
	if err := sys.Setresgid(c.Gid); err != nil {
		return err
	}
	if err := sys.Setresuid(c.Uid); err != nil {
		return err
	}
	if c.Uid != 0 {
		if err := sys.Setresuid(0); err == nil {
			return sys.Errorf("drop privileges", c.Name, unix.EPERM, "setresuid(0) still succeeds after the drop")
		}
	}
	if unix.Getuid() != c.Uid || unix.Geteuid() != c.Uid || unix.Getgid() != c.Gid || unix.Getegid() != c.Gid {
		return sys.Errorf("drop privileges", c.Name, unix.EPERM, "credentials did not change as asked")
	}
	// The kernel keeps groups sorted: compare as sets.
	got, err := unix.Getgroups()
	want := slices.Compact(slices.Sorted(slices.Values(groups)))
	slices.Sort(got)
	if err != nil || !slices.Equal(slices.Compact(got), want) {
		return sys.Errorf("drop privileges", c.Name, unix.EPERM, "supplementary groups did not change as asked")
	}
	return nil
}
