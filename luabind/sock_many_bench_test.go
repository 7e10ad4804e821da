package luabind

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkFdpassMany is the batch API's own cost in one process: b.N
// messages of one descriptor each, 64 per sendfds_many and recvfds_many,
// every received handle closed. (bench/run's fdpass1-batch row runs the
// two ends as two processes against C and Go.)
func BenchmarkFdpassMany(b *testing.B) {
	for _, recv := range []string{"handles", "batch"} {
		b.Run(recv, func(b *testing.B) {
			rt, err := newTestRuntime(Options{Stdout: io.Discard, Stderr: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			code := fmt.Sprintf(`
				local n, batch = %d, %v
				local a, c = sock.pair("seqpacket")
				local r = fd.open("/dev/null", "r")
				local msgs = {}
				for i = 1, 64 do msgs[i] = {"m", r} end
				local opts = {count = 64, max = 1, size = 64, batch = batch}
				local send, recv, close = sock.sendfds_many, sock.recvfds_many, fd.close
				local done = 0
				while done < n do
					local k = math.min(64, n - done)
					if k < 64 then msgs = {unpack(msgs, 1, k)} end
					send(a, msgs)
					local got = 0
					while got < k do
						local ms = recv(c, opts)
						for i = 1, #ms do close(ms[i][2]) end
						got = got + #ms
					end
					done = done + k
				end
				fd.close(a, c, r)
			`, b.N, recv == "batch")
			b.ResetTimer()
			if res := rt.RunString(code, "=bench"); res.Err != nil {
				b.Fatal(rt.ErrorReport(res.Err))
			}
		})
	}
}
