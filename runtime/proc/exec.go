package proc

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Exec replaces this process with the program a describes, with the same
// descriptor-map rules as Spawn (execline-style chain loading). It goes
// through the trampoline: the map's sources are made to survive execve,
// and the trampoline, a fresh single-purpose process image, moves them to
// their numbers and execs the program. Moving descriptors here instead
// could clobber ones Go's runtime is using on other threads.
//
// The point of no return is this process's execve of the trampoline, so
// everything execve would refuse is checked before it and returned as an
// ordinary error: the program is opened O_PATH and must be a regular,
// executable file (EACCES otherwise, ENOENT when missing) that is an ELF
// binary whose interpreter exists or a #! script whose interpreter does
// (ENOEXEC, ENOENT); the directory is opened and checked; setsid is
// refused when this process leads a process group. The trampoline then
// runs exactly the inode that was checked (through /proc/self/fd; a #!
// script by its path, which its interpreter needs), changes to exactly the
// directory that was checked (fchdir), and only then calls setsid and
// setpgid: nothing is changed in this process before execve, so a failed
// Exec leaves it as it was.
//
// On success Exec does not return; children keep running (they become the
// new program's children: the exec runs on the spawner thread, which
// survives execve, so their death signal does not fire) and every other
// handle is closed by close-on-exec.
func (o *Owner) Exec(a Attr) error {
	if err := o.usable("exec", a.Argv0()); err != nil {
		return err
	}
	if a.Detach {
		return sys.Errorf("exec", a.Argv0(), unix.EINVAL, "detach has no meaning for exec")
	}
	if err := o.execKeepsChildren(a.Argv0()); err != nil {
		return err
	}
	pl, err := o.prepare("exec", a, true)
	if err != nil {
		return err
	}
	var keep []int // descriptors made for the trampoline: closed on failure
	var cleared []int
	restore := func() {
		for _, n := range cleared {
			sys.SetFdFlags(n, unix.FD_CLOEXEC)
		}
		for _, n := range keep {
			sys.Close(n)
		}
		pl.abort()
	}
	exe, err := trampolineExe()
	if err != nil {
		restore()
		return err
	}
	t := pl.tramp
	if t.pdeathsig != 0 {
		t.ppid = os.Getppid()
	}
	top := 2
	for k := range pl.fds {
		top = max(top, k)
	}
	top = isolationFds(pl, top)
	// above copies n above every target of the map, without close-on-exec,
	// so the trampoline's moves cannot land on it.
	above := func(n int) (int, error) {
		d, err := sys.DupCloexecMin(n, top+1)
		if err != nil {
			return -1, err
		}
		keep = append(keep, d)
		return d, sys.SetFdFlags(d, 0)
	}
	// With a root of its own (or a joined mount namespace, or a program
	// handle) the child finds its program and directory elsewhere; the
	// trampoline and runtime/ns report those failures.
	isoRoot := pl.iso != nil && (pl.iso.Child.HasRoot || hasMountJoin(pl.iso) || pl.iso.Child.Exe >= 0)
	if !isoRoot {
		prog, script, err := checkProgram("exec", pl.path)
		if err != nil {
			restore()
			return err
		}
		t.prog, err = above(prog)
		sys.Close(prog)
		if err != nil {
			restore()
			return err
		}
		t.script = script
	}
	if a.Dir != "" && (pl.iso == nil || pl.iso.Child.Cwd == "") {
		d, err := openDir("exec", a.Dir)
		if err != nil {
			restore()
			return err
		}
		t.dir, err = above(d)
		sys.Close(d)
		if err != nil {
			restore()
			return err
		}
	}
	if a.Setsid {
		if sys.Getpgrp() == os.Getpid() {
			restore()
			return sys.Errorf("exec", a.Argv[0], unix.EPERM, "setsid: this process leads its process group, so it cannot start a session (setsid(2) fails with EPERM)")
		}
		t.setsid = true
	}
	if a.Setpgid {
		t.setpgid, t.pgid = true, a.Pgid
	}
	seen := map[int]bool{}
	for k, n := range pl.fds {
		if n < 0 || (k < 3 && n == k) {
			continue
		}
		t.moves = append(t.moves, [2]int{k, n})
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
	argv := t.argv(pl.path, a.Argv)
	o.releaseGroup() // cgroup.go: the new program inherits the children
	// execve keeps only the calling thread; every other one ends, and with
	// it the death signal of the children it forked fires. So exec from the
	// thread the children were forked on: the caller's when spawns fork
	// there (forkHere, spawner.go), else the spawner thread; the spawner's
	// when only it has children. (Children of both are refused above.)
	// exec's own namespace work is all in the trampoline.
	ran := !o.onlySpawnerChildren() && o.forkHere(func() { err = sys.Exec(exe, argv, pl.env) })
	if !ran && !o.onSpawner(func() { err = sys.Exec(exe, argv, pl.env) }) {
		err = sys.Errorf("exec", a.Argv0(), unix.EBADF, "the runtime that owns children is closed")
	}
	restore()
	return err
}

// checkProgram opens path O_PATH and checks what execve would: a regular
// file, executable by our effective ids on a mount that allows it, in a
// format the kernel runs, whose interpreter exists. It returns the
// descriptor and whether the file is a #! script.
func checkProgram(op, path string) (fd int, script bool, err error) {
	fd, err = sys.Openat(unix.AT_FDCWD, path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false, sys.Wrap(op, path, sys.ErrnoOf(err))
	}
	fail := func(err error) (int, bool, error) {
		sys.Close(fd)
		return -1, false, err
	}
	var st unix.Stat_t
	if err := sys.Fstat(fd, &st); err != nil {
		return fail(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return fail(sys.Errorf(op, path, unix.EACCES, "is a directory, not a program"))
	default:
		return fail(sys.Errorf(op, path, unix.EACCES, "is not a regular file"))
	}
	if err := sys.Faccessat(fd, "", unix.X_OK, unix.AT_EMPTY_PATH|unix.AT_EACCESS); err != nil {
		return fail(sys.Errorf(op, path, unix.EACCES, "is not executable (no execute permission for this user, or a noexec mount)"))
	}
	// The format: read the head through a second, readable description.
	// A file we may execute but not read (mode --x) is left to execve.
	r, err := sys.Openat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fd, false, nil
	}
	defer sys.Close(r)
	head := make([]byte, 256)
	n, _ := sys.Pread(r, head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		if err := checkInterpreter(op, path, head); err != nil {
			return fail(err)
		}
		return fd, true, nil
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		if err := checkELF(op, path, r); err != nil {
			return fail(err)
		}
		return fd, false, nil
	}
	return fail(sys.Errorf(op, path, unix.ENOEXEC, "is neither an ELF binary nor a #! script (execve(2) fails with ENOEXEC)"))
}

// checkInterpreter checks a #! line's interpreter (an absolute path).
func checkInterpreter(op, path string, head []byte) error {
	line, _, _ := bytes.Cut(head[2:], []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) == 0 {
		return sys.Errorf(op, path, unix.ENOEXEC, "the #! line names no interpreter")
	}
	interp := string(fields[0])
	if interp[0] != '/' {
		return nil // resolved by the kernel from the new working directory
	}
	if err := sys.Faccessat(unix.AT_FDCWD, interp, unix.X_OK, unix.AT_EACCESS); err != nil {
		return sys.Errorf(op, path, sys.ErrnoOf(err), "its interpreter %s cannot be run", interp)
	}
	return nil
}

// checkELF checks an ELF file's class and machine and that its program
// interpreter (the dynamic loader) exists.
func checkELF(op, path string, r int) error {
	f, err := elf.NewFile(io.NewSectionReader(preader(r), 0, 1<<62))
	if err != nil {
		return sys.Errorf(op, path, unix.ENOEXEC, "is not a valid ELF file: %v", err)
	}
	if nativeMachine != elf.EM_NONE && (f.Machine != nativeMachine || f.Class != nativeClass) {
		return sys.Errorf(op, path, unix.ENOEXEC, "is an ELF file for %s/%s, not for this machine", f.Class, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, min(p.Filesz, 4096))
		if _, err := p.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			return sys.Errorf(op, path, unix.ENOEXEC, "its program interpreter cannot be read: %v", err)
		}
		interp := string(bytes.TrimRight(b, "\x00"))
		if err := sys.Faccessat(unix.AT_FDCWD, interp, unix.X_OK, unix.AT_EACCESS); err != nil {
			return sys.Errorf(op, path, sys.ErrnoOf(err), "its program interpreter %s cannot be run", interp)
		}
	}
	return nil
}

type preader int

func (p preader) ReadAt(b []byte, off int64) (int, error) {
	n, err := sys.Pread(int(p), b, off)
	if err == nil && n < len(b) {
		return n, io.EOF
	}
	return n, err
}

// openDir opens dir O_PATH and checks it is a directory we may enter.
func openDir(op, dir string) (int, error) {
	fd, err := sys.Openat(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, sys.WithHint(sys.Wrap(op, dir, sys.ErrnoOf(err)), "the working directory for the program")
	}
	if err := sys.Faccessat(fd, "", unix.X_OK, unix.AT_EMPTY_PATH|unix.AT_EACCESS); err != nil {
		sys.Close(fd)
		return -1, sys.Errorf(op, dir, unix.EACCES, "the working directory cannot be entered")
	}
	return fd, nil
}

// Argv0 is the program name for messages.
func (a Attr) Argv0() string {
	if len(a.Argv) == 0 {
		return ""
	}
	return a.Argv[0]
}
