package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

const greeting = "hello from the bench handler\n"

// connpass measures connection passing: a listener accepts TCP
// connections on 127.0.0.1 and passes each to a handler process, which
// greets it and closes it; the C client (bench/baseline/connpass.c)
// makes n connections, connConcurrency at a time, and reports
// connections per second. C and Go run seed 002's listener/handler pair;
// fdwire runs `fdwire portlisten` with scripts/hello-handler.lua, and then
// (the second value) bench/lua/connserve.lua, a Lua accept loop serving
// the connections itself.
func connpass(n int) func(e *env, impl int) (*outcome, string, error) {
	return func(e *env, impl int) (*outcome, string, error) {
		if impl == implPython {
			return nil, "", nil
		}
		cb, why := cprog(e, "connpass")
		if why != "" {
			return nil, "the client is bench/baseline/connpass.c: " + why, nil
		}
		var pairs [][][]string // per value: the server commands, in start order
		path := filepath.Join(e.dir, fmt.Sprintf("connpass-%d.sock", os.Getpid()))
		switch impl {
		case implC, implGo:
			bin := cb
			if impl == implGo {
				if bin, why = goprog(e); why != "" {
					return nil, why, nil
				}
			}
			pairs = [][][]string{{{bin, "handler", path, greeting}, {bin, "listener", "PORT", path}}}
		case implFdwire:
			name := fmt.Sprintf("@fdwire-bench-handler-%d", os.Getpid())
			serve, why := luaprog(e, "connserve")
			if why != "" {
				return nil, why, nil
			}
			pairs = [][][]string{
				{{e.fdwire, e.path("scripts/hello-handler.lua"), name}, {e.fdwire, "portlisten", "tcp:127.0.0.1:PORT", name}},
				{{e.fdwire, serve, "PORT"}},
			}
		}
		o := &outcome{}
		for _, servers := range pairs {
			rate, err := connRun(e, cb, servers, n)
			os.Remove(path)
			if err != nil {
				return nil, "", err
			}
			o.vals = append(o.vals, rate)
		}
		if len(o.vals) == 1 {
			o.vals = append(o.vals, o.vals[0])
		}
		return o, "", nil
	}
}

// connRun starts the servers (PORT in their argv replaced by a free
// port), waits until a connection gets its greeting end to end, runs the
// client and stops the servers.
func connRun(e *env, client string, servers [][]string, n int) (float64, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	ps := strconv.Itoa(port)
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				p.Process.Kill()
				<-done
			}
		}
	}()
	for _, argv := range servers {
		a := make([]string, len(argv))
		for i, s := range argv {
			if s == "PORT" {
				s = ps
			} else if s == "tcp:127.0.0.1:PORT" {
				s = "tcp:127.0.0.1:" + ps
			}
			a[i] = s
		}
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Dir = e.root
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		procs = append(procs, cmd)
		if len(procs) < len(servers) {
			// the handler first, so the listener finds it
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := connReady(port, 10*time.Second); err != nil {
		return 0, fmt.Errorf("%s: %w", servers[len(servers)-1][0], err)
	}
	o, err := runProg(e, []string{client, "client", ps, strconv.Itoa(n), strconv.Itoa(connConcurrency)}, 3*time.Minute)
	if err != nil {
		return 0, err
	}
	return o.vals[0], nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// connReady waits until a connection to port is greeted.
func connReady(port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			b, rerr := io.ReadAll(c)
			c.Close()
			if rerr == nil && len(b) > 0 {
				return nil
			}
			err = fmt.Errorf("no greeting (%v)", rerr)
		}
		last = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("not serving within %v: %v", within, last)
}
