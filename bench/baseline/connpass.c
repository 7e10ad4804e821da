// connpass: connection passing after the design of portlisten (2002, see
// /work/shared/seeds/002): a listener accepts TCP connections and passes
// each one, with the byte "x", over a unix SOCK_DGRAM socket to a handler,
// which greets the connection and closes it. Unlike the original, the
// listener's backlog is 1024 (not 5) and a send that finds no handler is
// retried after 10 ms (not 100 ms); the client measures.
//
//   connpass listener PORT PATH      listen on 127.0.0.1:PORT, pass to PATH
//   connpass handler PATH GREETING   bind PATH, greet each descriptor received
//   connpass client PORT NCONNS CONC NCONNS connections, CONC at a time
//
// The client's threads each connect, read until EOF, check that something
// arrived and close. It prints: RESULT <connections/s> <seconds>
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_un unix_addr(const char *path) {
	struct sockaddr_un a = {0};
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof a.sun_path) {
		fprintf(stderr, "connpass: path too long\n");
		exit(2);
	}
	strcpy(a.sun_path, path);
	return a;
}

static int send_connection(int u, struct sockaddr_un *to, int fd) {
	char ctl[CMSG_SPACE(sizeof fd)];
	struct iovec v = {"x", 1};
	struct msghdr m = {0};
	m.msg_name = to;
	m.msg_namelen = sizeof *to;
	m.msg_iov = &v;
	m.msg_iovlen = 1;
	m.msg_control = ctl;
	m.msg_controllen = sizeof ctl;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fd);
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(u, &m, 0) < 0 ? -1 : 0;
}

static int listener(int port, const char *path) {
	struct sockaddr_un to = unix_addr(path);
	int u = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u < 0 || l < 0)
		die("socket");
	int one = 1;
	struct sockaddr_in sin = {0};
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(l, (struct sockaddr *)&sin, sizeof sin) ||
	    listen(l, 1024))
		die("listen");
	for (;;) {
		int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			die("accept");
		}
		for (int tries = 0; send_connection(u, &to, fd) < 0; tries++) {
			if (tries > 1000)
				die("sendmsg");
			usleep(10000);
		}
		close(fd);
	}
}

static int handler(const char *path, const char *greeting) {
	struct sockaddr_un a = unix_addr(path);
	unlink(path);
	int u = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u < 0 || bind(u, (struct sockaddr *)&a, sizeof a))
		die("bind handler");
	size_t glen = strlen(greeting);
	for (;;) {
		char b[1];
		int fd = -1;
		char ctl[CMSG_SPACE(sizeof fd)];
		struct iovec v = {b, 1};
		struct msghdr m = {0};
		m.msg_iov = &v;
		m.msg_iovlen = 1;
		m.msg_control = ctl;
		m.msg_controllen = sizeof ctl;
		if (recvmsg(u, &m, MSG_CMSG_CLOEXEC) < 0) {
			if (errno == EINTR)
				continue;
			die("recvmsg");
		}
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
		if (write(fd, greeting, glen) < 0)
			perror("write");
		close(fd);
	}
}

static int cport;
static long remaining;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *client_thread(void *arg) {
	(void)arg;
	struct sockaddr_in sin = {0};
	sin.sin_family = AF_INET;
	sin.sin_port = htons(cport);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (;;) {
		pthread_mutex_lock(&mu);
		long left = remaining--;
		pthread_mutex_unlock(&mu);
		if (left <= 0)
			return NULL;
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			die("socket");
		if (connect(s, (struct sockaddr *)&sin, sizeof sin))
			die("connect");
		char b[256];
		size_t total = 0;
		ssize_t r;
		while ((r = read(s, b, sizeof b)) > 0)
			total += r;
		if (r < 0)
			die("read");
		if (total == 0) {
			fprintf(stderr, "connpass: a connection closed without a greeting\n");
			exit(1);
		}
		close(s);
	}
}

static int client(int port, long n, int conc) {
	cport = port;
	remaining = n;
	pthread_t t[64];
	if (conc < 1 || conc > 64)
		conc = 4;
	double t0 = now();
	for (int i = 0; i < conc; i++)
		if (pthread_create(&t[i], NULL, client_thread, NULL))
			die("pthread_create");
	for (int i = 0; i < conc; i++)
		pthread_join(t[i], NULL);
	double dt = now() - t0;
	printf("RESULT %.1f %.6f\n", n / dt, dt);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 4 && !strcmp(argv[1], "listener"))
		return listener(atoi(argv[2]), argv[3]);
	if (argc == 4 && !strcmp(argv[1], "handler"))
		return handler(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(atoi(argv[2]), atol(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: connpass listener PORT PATH | handler PATH GREETING | client PORT NCONNS CONC\n");
	return 2;
}
