package proc_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// nsHelperC is the program of the isolated children in these tests. It
// must be static: a sealed child's root holds no C library. It reports
// what it can reach on stdout, one "key value" line each.
const nsHelperC = `
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>
static const char *en(int r) { return r < 0 ? strerrorname_np(errno) : "ok"; }
int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "sealed";
	printf("uid %d\npid %d\nfds", getuid(), getpid());
	const char *sep = " ";
	for (int n = 0; n < 1024; n++)
		if (fcntl(n, F_GETFD) >= 0) { printf("%s%d", sep, n); sep = ","; }
	printf("\n");
	if (!strcmp(mode, "ns")) {
		const char *k[] = {"net", "pid", "mnt", "uts", "ipc", "user"};
		for (int i = 0; i < 6; i++) {
			char p[64], l[128] = {0};
			snprintf(p, sizeof p, "/proc/self/ns/%s", k[i]);
			if (readlink(p, l, sizeof l - 1) < 0) strcpy(l, strerrorname_np(errno));
			printf("ns.%s %s\n", k[i], l);
		}
		return 0;
	}
	DIR *d = opendir("/");
	char names[4096] = "";
	struct dirent *e;
	int count = 0;
	char *list[256];
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && count < 256) list[count++] = strdup(e->d_name);
	for (int i = 0; i < count; i++)
		for (int j = i + 1; j < count; j++)
			if (strcmp(list[j], list[i]) < 0) { char *t = list[i]; list[i] = list[j]; list[j] = t; }
	for (int i = 0; i < count; i++) { if (i) strcat(names, ","); strcat(names, list[i]); }
	printf("root %s\n", names);
	struct stat st;
	printf("proc %s\n", en(stat("/proc/self", &st)));
	char buf[256] = {0};
	int f = open("/data/hello", O_RDONLY);
	int n = f >= 0 ? read(f, buf, sizeof buf - 1) : -1;
	if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
	printf("data %s %s\n", buf, f < 0 ? strerrorname_np(errno) : "ok");
	printf("datawrite %s\n", en(open("/data/new", O_WRONLY | O_CREAT, 0644)));
	if (stat("/etc", &st) < 0) /* never write into a real root */
		printf("rootwrite %s\n", en(open("/newfile", O_WRONLY | O_CREAT, 0644)));
	int dd = open("/data", O_PATH | O_DIRECTORY);
	struct open_how how = {.flags = O_PATH, .resolve = RESOLVE_BENEATH};
	printf("escape %s\n", en(syscall(SYS_openat2, dd, "..", &how, sizeof how)));
	if (getenv("FDWIRE_NS_TCP")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(getenv("FDWIRE_NS_TCP"))), .sin_addr.s_addr = htonl(0x7f000001)};
		printf("tcp %s\n", en(connect(s, (struct sockaddr *)&a, sizeof a)));
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) printf("lo %s\n", ifr.ifr_flags & IFF_UP ? "up" : "down");
	else printf("lo %s\n", strerrorname_np(errno));
	printf("nnp %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	printf("devnull %s\n", en(stat("/dev/null", &st)));
	if (getenv("FDWIRE_NS_CONNECTOR")) { /* the connector protocol, docs/anon.md */
		int c = atoi(getenv("FDWIRE_NS_CONNECTOR"));
		int times = getenv("FDWIRE_NS_TIMES") ? atoi(getenv("FDWIRE_NS_TIMES")) : 1;
		int good = 0, lasterr = 0;
		for (int i = 0; i <= times; i++) {
			if (i == times) { /* one more, after the parent closed the listener */
				char b;
				if (!getenv("FDWIRE_NS_AFTER") || read(atoi(getenv("FDWIRE_NS_AFTER")), &b, 1) != 1) break;
			}
			send(c, "C", 1, 0);
			int code = -1, got = -1;
			char cm[CMSG_SPACE(sizeof(int))];
			struct iovec io = {&code, sizeof code};
			struct msghdr mh = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cm, .msg_controllen = sizeof cm};
			if (recvmsg(c, &mh, 0) == 4 && code == 0 && CMSG_FIRSTHDR(&mh))
				memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof got);
			if (got >= 0 && write(got, "hi", 2) == 2) good++;
			else lasterr = code > 0 ? code : EPROTO;
			if (got >= 0) close(got);
		}
		printf("conn %d\nconnerr %s\n", good, lasterr ? strerrorname_np(lasterr) : "none");
	}
	return 0;
}
`

var (
	nsHelperOnce sync.Once
	nsHelperPath string
	nsHelperErr  string
)

// nsHelper compiles nsHelperC statically once.
func nsHelper(t *testing.T) string {
	nsHelperOnce.Do(func() {
		cc, err := exec.LookPath("gcc")
		if err != nil {
			nsHelperErr = "gcc is not installed (the isolation tests need a tiny static C program)"
			return
		}
		dir, err := os.MkdirTemp("", "fdwire-nshelper-")
		if err != nil {
			nsHelperErr = err.Error()
			return
		}
		src := filepath.Join(dir, "h.c")
		os.WriteFile(src, []byte(nsHelperC), 0o600)
		bin := filepath.Join(dir, "nshelper")
		if out, err := exec.Command(cc, "-O1", "-static", "-o", bin, src).CombinedOutput(); err != nil {
			nsHelperErr = fmt.Sprintf("gcc -static failed (is the static C library, libc6-dev, installed?): %s", out)
			return
		}
		os.Chmod(dir, 0o755)
		nsHelperPath = bin
	})
	if nsHelperPath == "" {
		t.Skip(nsHelperErr)
	}
	return nsHelperPath
}
