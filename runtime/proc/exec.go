package proc

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Exec replaces this process with the program a describes, with the same
// descriptor-map rules as Spawn (execline-style chain loading). It goes
// through the trampoline: the map's sources are made to survive execve,
// and the trampoline, a fresh single-purpose process image, moves them to
// their numbers and execs the program. Moving descriptors here instead
// could clobber ones Go's runtime is using on other threads. On success
// Exec does not return; children keep running (they become the new
// program's children) and every other handle is closed by close-on-exec.
// Setsid, Setpgid and Dir are applied to this process just before execve.
func Exec(a Attr) error {
	if a.Detach {
		return sys.Errorf("exec", a.Argv0(), unix.EINVAL, "detach has no meaning for exec")
	}
	pl, err := prepare("exec", a, true)
	if err != nil {
		return err
	}
	exe, err := trampolineExe()
	if err != nil {
		pl.abort()
		return err
	}
	if pl.tramp.pdeathsig != 0 {
		pl.tramp.ppid = os.Getppid()
	}
	var cleared []int
	restore := func() {
		for _, n := range cleared {
			sys.SetFdFlags(n, unix.FD_CLOEXEC)
		}
		pl.abort()
	}
	top := 2
	for k := range pl.fds {
		top = max(top, k)
	}
	isolationFds(pl, top)
	seen := map[int]bool{}
	for k, n := range pl.fds {
		if n < 0 || (k < 3 && n == k) {
			continue
		}
		pl.tramp.moves = append(pl.tramp.moves, [2]int{k, n})
		if seen[n] || n < 3 {
			continue
		}
		seen[n] = true
		if err := sys.SetFdFlags(n, 0); err != nil {
			restore()
			return err
		}
		cleared = append(cleared, n)
	}
	if a.Dir != "" && (pl.iso == nil || pl.iso.Child.Cwd == "") {
		if err := unix.Chdir(a.Dir); err != nil {
			restore()
			return sys.Wrap("chdir", a.Dir, err)
		}
	}
	if a.Setsid {
		if _, err := unix.Setsid(); err != nil {
			restore()
			return sys.Wrap("setsid", "", err)
		}
	}
	if a.Setpgid {
		if err := unix.Setpgid(0, a.Pgid); err != nil {
			restore()
			return sys.Wrap("setpgid", "", err)
		}
	}
	err = sys.Exec(exe, pl.tramp.argv(pl.path, a.Argv), pl.env)
	restore()
	return err
}

// Argv0 is the program name for messages.
func (a Attr) Argv0() string {
	if len(a.Argv) == 0 {
		return ""
	}
	return a.Argv[0]
}
