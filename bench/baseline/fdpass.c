// fdpass: NFDS descriptors per message over a unix seqpacket socketpair
// between two processes; the receiver closes every descriptor it gets.
//
//   fdpass NFDS NMSGS
//
// The receiver (a forked child) says "ready" first so the clock starts
// when both sides run; it says "done" after the last message, and the
// clock stops there. Prints: RESULT <messages/s> <fds/s> <seconds>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXFDS 253

static void die(const char *what) {
	perror(what);
	exit(1);
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void receiver(int s, long nmsgs) {
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAXFDS)];
		struct cmsghdr align;
	} ctl;
	char data[4096];
	if (write(s, "r", 1) != 1)
		die("write ready");
	for (long i = 0; i < nmsgs; i++) {
		struct iovec iov = {data, sizeof data};
		struct msghdr mh = {0};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof ctl.buf;
		ssize_t r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0)
			die("recvmsg");
		if (mh.msg_flags & MSG_CTRUNC) {
			fprintf(stderr, "MSG_CTRUNC\n");
			exit(1);
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			int n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *fds = (int *)CMSG_DATA(c);
			for (int k = 0; k < n; k++)
				close(fds[k]);
		}
	}
	if (write(s, "d", 1) != 1)
		die("write done");
	_exit(0);
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: fdpass NFDS NMSGS\n");
		return 2;
	}
	int nfds = atoi(argv[1]);
	long nmsgs = atol(argv[2]);
	if (nfds < 1 || nfds > MAXFDS || nmsgs < 1) {
		fprintf(stderr, "fdpass: NFDS is 1..253, NMSGS >= 1\n");
		return 2;
	}
	// In-flight descriptors count against RLIMIT_NOFILE for unprivileged
	// senders; Go raises the soft limit at start-up, so do the same here.
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(sv[0]);
		receiver(sv[1], nmsgs);
	}
	close(sv[1]);
	int s = sv[0];
	int fds[MAXFDS];
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		die("open /dev/null");
	for (int i = 0; i < nfds; i++)
		fds[i] = devnull;
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAXFDS)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	char b;
	if (read(s, &b, 1) != 1)
		die("read ready");
	double t0 = now();
	for (long i = 0; i < nmsgs; i++) {
		struct iovec iov = {"m", 1};
		struct msghdr mh = {0};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		if (sendmsg(s, &mh, MSG_NOSIGNAL) < 0)
			die("sendmsg");
	}
	if (read(s, &b, 1) != 1)
		die("read done");
	double dt = now() - t0;
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "fdpass: receiver failed\n");
		return 1;
	}
	printf("RESULT %.1f %.1f %.6f\n", nmsgs / dt, (double)nmsgs * nfds / dt, dt);
	return 0;
}
