package main

// connpass: seed 002's listener and handler in Go, the same protocol as
// connpass.c (TCP on 127.0.0.1:PORT, backlog 1024; each connection passed
// with the byte "x" over a unix SOCK_DGRAM socket to the handler at PATH,
// which greets it and closes it). Plain blocking calls on one goroutine.

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func listener(port int, path string) error {
	u, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(l, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	if err := unix.Bind(l, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(l, 1024); err != nil {
		return err
	}
	to := &unix.SockaddrUnix{Name: path}
	data := []byte("x")
	for {
		fd, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED || err == unix.EPROTO {
				continue
			}
			return err
		}
		oob := unix.UnixRights(fd)
		for tries := 0; ; tries++ {
			err = unix.Sendmsg(u, data, oob, to, 0)
			if err == nil {
				break
			}
			if tries > 1000 {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		unix.Close(fd)
	}
}

func handler(path, greeting string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	u, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(u, &unix.SockaddrUnix{Name: path}); err != nil {
		return err
	}
	g := []byte(greeting)
	b := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		_, oobn, _, _, err := unix.Recvmsg(u, b, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		if oobn < unix.CmsgLen(4) {
			continue
		}
		c := (*unix.Cmsghdr)(unsafePointer(oob))
		if c.Level != unix.SOL_SOCKET || c.Type != unix.SCM_RIGHTS {
			continue
		}
		fd := int(*(*int32)(unsafePointer(oob[unix.CmsgLen(0):])))
		unix.Write(fd, g)
		unix.Close(fd)
	}
}
