// Package ns gives a child process namespaces of its own or joins it to
// existing ones passed as descriptors (nsfds or pidfds), builds its root
// file system from directory handles on a fresh tmpfs with the fd-based
// mount API, and seals it (no_new_privs, a program run from a handle).
//
// The work is split by where it must run. Prepare runs in the parent: it
// checks a Spec, clones the handed-in directory trees (open_tree) while
// the parent can still see them, and returns a Plan with the clone flags
// for the fork and a ChildSpec. ChildSpec.Apply runs in the child between
// fork and exec (runtime/proc's trampoline): it joins or creates the mount
// namespace, brings loopback up, builds and pivots into the new root.
// See docs/isolation.md.
package ns

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Kinds are the namespace types by the names fdwire uses (the names of
// /proc/PID/ns/ entries, with "mount" for mnt).
var kinds = []struct {
	name, proc string
	flag       int
}{
	{"user", "user", unix.CLONE_NEWUSER},
	{"mount", "mnt", unix.CLONE_NEWNS},
	{"net", "net", unix.CLONE_NEWNET},
	{"pid", "pid", unix.CLONE_NEWPID},
	{"ipc", "ipc", unix.CLONE_NEWIPC},
	{"uts", "uts", unix.CLONE_NEWUTS},
	{"cgroup", "cgroup", unix.CLONE_NEWCGROUP},
	{"time", "time", unix.CLONE_NEWTIME},
}

// Flag returns the CLONE_NEW* bit of a namespace name ("mnt" is accepted
// for "mount").
func Flag(name string) (int, bool) {
	for _, k := range kinds {
		if k.name == name || k.proc == name {
			return k.flag, true
		}
	}
	return 0, false
}

// Name returns the fdwire name of a CLONE_NEW* bit.
func Name(flag int) string {
	for _, k := range kinds {
		if k.flag == flag {
			return k.name
		}
	}
	return fmt.Sprintf("namespace type %#x", flag)
}

// Names lists the namespace names (for "did you mean").
func Names() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.name
	}
	return out
}

// names formats the namespaces in flags, in the order of kinds.
func names(flags int) string {
	var out []string
	for _, k := range kinds {
		if flags&k.flag != 0 {
			out = append(out, k.name)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "+")
}
