package main

// spawn: start /bin/true N times, one after the other, each with three
// descriptors mapped to 3, 4 and 5 (syscall.ForkExec's Files, sources
// above 5 so the dup2s are real moves, as in spawn.c), waiting for each
// with wait4. Prints: RESULT <spawns/s> <seconds>

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func spawn(n int) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	m, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var src [3]uintptr
	for i, fd := range []int{p[0], p[1], m} {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 10)
		if err != nil {
			return err
		}
		src[i] = uintptr(d)
	}
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2, src[0], src[1], src[2]}}
	argv := []string{"/bin/true"}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		pid, err := syscall.ForkExec(argv[0], argv, attr)
		if err != nil {
			return err
		}
		var ws syscall.WaitStatus
		for {
			_, err = syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			return err
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fmt.Errorf("/bin/true: %v", ws)
		}
	}
	dt := time.Since(t0).Seconds()
	fmt.Printf("RESULT %.1f %.3f\n", float64(n)/dt, dt)
	return nil
}
