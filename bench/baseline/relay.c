// relay: move BYTES from one pipe to another with splice(2), the way a
// socket-activation shim or an fd relay forwards a stream.
//
//   relay BYTES            run the benchmark: source -> pipe -> relay (this
//                          process, splice) -> pipe -> sink
//   relay source BYTES     write BYTES zeros to stdout (64 KiB writes)
//   relay sink BYTES       read stdin to EOF, fail unless BYTES arrived
//
// The Python and fdwire relays start this same program as source and sink,
// so only the relay in the middle differs between the rows.
// Prints: RESULT <MB/s> <seconds>
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CHUNK 65536

static void die(const char *what) {
	perror(what);
	exit(1);
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int source(long long bytes) {
	static char buf[CHUNK];
	while (bytes > 0) {
		ssize_t w = write(1, buf, bytes < CHUNK ? bytes : CHUNK);
		if (w < 0)
			die("source: write");
		bytes -= w;
	}
	return 0;
}

static int sink(long long bytes) {
	static char buf[CHUNK];
	long long got = 0;
	for (;;) {
		ssize_t r = read(0, buf, CHUNK);
		if (r < 0)
			die("sink: read");
		if (r == 0)
			break;
		got += r;
	}
	if (got != bytes) {
		fprintf(stderr, "sink: got %lld bytes, want %lld\n", got, bytes);
		return 1;
	}
	return 0;
}

// start runs "self MODE BYTES" with fd at stdin (in) or stdout (out).
static pid_t start(const char *self, const char *mode, const char *bytes, int fd, int target) {
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, target);
	char *argv[] = {(char *)self, (char *)mode, (char *)bytes, NULL};
	pid_t pid;
	int err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		fprintf(stderr, "relay: spawn %s: error %d\n", mode, err);
		exit(1);
	}
	return pid;
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "source") == 0)
		return source(atoll(argv[2]));
	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		return sink(atoll(argv[2]));
	if (argc != 2) {
		fprintf(stderr, "usage: relay BYTES | relay source BYTES | relay sink BYTES\n");
		return 2;
	}
	long long bytes = atoll(argv[1]);
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe2");
	pid_t src = start(argv[0], "source", argv[1], in[1], 1);
	pid_t snk = start(argv[0], "sink", argv[1], out[0], 0);
	close(in[1]);
	close(out[0]);
	double t0 = now();
	for (;;) {
		ssize_t n = splice(in[0], NULL, out[1], NULL, CHUNK, SPLICE_F_MOVE);
		if (n < 0)
			die("splice");
		if (n == 0)
			break;
	}
	close(out[1]);
	int st1, st2;
	waitpid(snk, &st2, 0);
	double dt = now() - t0;
	waitpid(src, &st1, 0);
	if (!WIFEXITED(st1) || WEXITSTATUS(st1) || !WIFEXITED(st2) || WEXITSTATUS(st2)) {
		fprintf(stderr, "relay: source or sink failed\n");
		return 1;
	}
	printf("RESULT %.1f %.6f\n", bytes / dt / 1e6, dt);
	return 0;
}
