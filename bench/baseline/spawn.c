// spawn: start /bin/true N times, one after the other, each with three
// descriptors mapped to 3, 4 and 5, waiting for each to exit.
//
//   spawn N
//
// posix_spawn with dup2 file actions (glibc uses clone(CLONE_VM|CLONE_VFORK)).
// Prints: RESULT <spawns/s> <seconds>
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return 1;
	int m = open("/dev/null", O_RDWR | O_CLOEXEC);
	// Sources above 5 so the dup2s are real moves, as in fdwire's map.
	int src[3] = {fcntl(p[0], F_DUPFD_CLOEXEC, 10), fcntl(p[1], F_DUPFD_CLOEXEC, 10), fcntl(m, F_DUPFD_CLOEXEC, 10)};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, src[i], 3 + i);
	char *args[] = {"/bin/true", NULL};
	double t0 = now();
	for (long i = 0; i < n; i++) {
		pid_t pid;
		if (posix_spawn(&pid, "/bin/true", &fa, NULL, args, environ) != 0) {
			perror("posix_spawn");
			return 1;
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 1;
	}
	double dt = now() - t0;
	printf("RESULT %.1f %.3f\n", n / dt, dt);
	return 0;
}
