// procs: bring N processes up and down: posix_spawn N "/bin/sleep 1000",
// then SIGTERM each and wait for all of them.
//
//   procs N
//
// Prints: RESULT <seconds for up and down> <up seconds> <down seconds>
#define _GNU_SOURCE
#include <signal.h>
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
	if (argc != 2) {
		fprintf(stderr, "usage: procs N\n");
		return 2;
	}
	int n = atoi(argv[1]);
	pid_t *pids = calloc(n, sizeof *pids);
	char *args[] = {"/bin/sleep", "1000", NULL};
	double t0 = now();
	for (int i = 0; i < n; i++) {
		int err = posix_spawn(&pids[i], args[0], NULL, NULL, args, environ);
		if (err) {
			fprintf(stderr, "procs: spawn: error %d\n", err);
			return 1;
		}
	}
	double t1 = now();
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	for (int i = 0; i < n; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFSIGNALED(st)) {
			fprintf(stderr, "procs: child %d did not end by signal\n", pids[i]);
			return 1;
		}
	}
	double t2 = now();
	printf("RESULT %.6f %.6f %.6f\n", t2 - t0, t1 - t0, t2 - t1);
	return 0;
}
