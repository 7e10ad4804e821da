package ns

import (
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// ChildSpec is the part of a Plan the child carries out between fork and
// exec. It travels to the trampoline as one argv item (Encode/Decode);
// descriptors are indexes into the Plan's Aux, found at AuxBase+index.
type ChildSpec struct {
	AuxBase      int          `json:"b"`
	Joins        []ChildJoin  `json:"j,omitempty"`
	Unshare      int          `json:"u,omitempty"`
	LoopbackUp   bool         `json:"lo,omitempty"`
	NewPid       bool         `json:"pid,omitempty"`
	Root         []ChildMount `json:"r,omitempty"`
	HasRoot      bool         `json:"root,omitempty"`
	Cwd          string       `json:"cwd,omitempty"`
	NoNewPrivs   bool         `json:"nnp,omitempty"`
	ClearAmbient bool         `json:"amb,omitempty"`
	Exe          int          `json:"exe"`
	NAux         int          `json:"n"`
}

// ChildJoin is one setns in the child.
type ChildJoin struct {
	Aux   int `json:"a"`
	Flags int `json:"f"`
}

// ChildMount is one entry of the new root, as the child builds it.
type ChildMount struct {
	Kind string `json:"k"` // bind, tmpfs, proc, dev
	At   string `json:"at"`
	RO   bool   `json:"ro,omitempty"`
	File bool   `json:"file,omitempty"` // a bind of a non-directory
	// Tree is the aux index of the detached tree cloned by the parent,
	// or -1: then the child clones Path in its own copy of the mount
	// namespace, after checking that it is still the inode Dev/Ino of
	// the handle at aux index Src.
	Tree int    `json:"t"`
	Src  int    `json:"s"`
	Path string `json:"p,omitempty"`
	Dev  uint64 `json:"d,omitempty"`
	Ino  uint64 `json:"i,omitempty"`
}

// Encode formats c for the trampoline's argv.
func (c *ChildSpec) Encode() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Decode parses what Encode made.
func Decode(s string) (*ChildSpec, error) {
	c := &ChildSpec{}
	if err := json.Unmarshal([]byte(s), c); err != nil {
		return nil, fmt.Errorf("bad namespace spec: %v", err)
	}
	return c, nil
}

// Needed reports whether the child has anything to do.
func (c *ChildSpec) Needed() bool {
	return len(c.Joins) > 0 || c.Unshare != 0 || c.LoopbackUp || c.HasRoot || c.NoNewPrivs || c.ClearAmbient || c.Exe >= 0
}

func (c *ChildSpec) fd(aux int) int { return c.AuxBase + aux }

// Apply does the child's set-up. It must run on a locked OS thread of
// the process that will exec (namespaces belong to the thread until the
// exec makes them the process's). The order: make the descriptors it
// was handed close-on-exec, join, create, bring loopback up, build and
// enter the new root, change directory.
func (c *ChildSpec) Apply() error {
	for i := 0; i < c.NAux; i++ {
		if err := sys.SetFdFlags(c.fd(i), unix.FD_CLOEXEC); err != nil {
			return err
		}
	}
	for _, j := range c.Joins {
		if j.Flags&unix.CLONE_NEWNS != 0 {
			// setns into a mount namespace needs an fs_struct of our own;
			// Go's threads share theirs.
			if err := sys.Unshare(unix.CLONE_FS, "fs_struct"); err != nil {
				return err
			}
		}
		if err := sys.Setns(c.fd(j.Aux), j.Flags, "join."+names(j.Flags)); err != nil {
			return sys.WithHint(err, joinHint(err, j.Flags))
		}
	}
	if c.Unshare != 0 {
		if err := sys.Unshare(c.Unshare, names(c.Unshare)+" namespace"); err != nil {
			return ForkError(err, c.Unshare)
		}
	}
	if c.LoopbackUp {
		if err := LoopbackUp(); err != nil {
			return err
		}
	}
	if c.HasRoot {
		if err := c.buildRoot(); err != nil {
			return err
		}
	}
	if c.Cwd != "" {
		if err := sys.Chdir(c.Cwd); err != nil {
			return err
		}
	}
	return nil
}

func joinHint(err error, flags int) string {
	switch sys.ErrnoOf(err) {
	case unix.EPERM:
		return "entering a " + names(flags) + " namespace needs CAP_SYS_ADMIN in the user namespace that owns it"
	case unix.EINVAL:
		return "the descriptor is not a " + names(flags) + " namespace, or the kernel refuses to enter it from here"
	}
	return ""
}

// Finish runs just before the exec: it drops the ambient capabilities
// the set-up needed and sets no_new_privs.
func (c *ChildSpec) Finish() error {
	if c.ClearAmbient {
		if err := sys.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, "PR_CAP_AMBIENT_CLEAR_ALL"); err != nil {
			return err
		}
	}
	if c.NoNewPrivs {
		if err := sys.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS"); err != nil {
			return err
		}
	}
	return nil
}

// Exec runs the program: the exe handle with execveat(AT_EMPTY_PATH)
// when one was given, otherwise path.
func (c *ChildSpec) Exec(path string, argv, env []string) error {
	if c.Exe >= 0 {
		return sys.Execveat(c.fd(c.Exe), "", argv, env, unix.AT_EMPTY_PATH, "exe (handle of "+argv[0]+")")
	}
	return sys.Exec(path, argv, env)
}
