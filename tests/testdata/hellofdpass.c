/* hellofdpass: a handler for portlisten's datagram protocol, written for
 * fdwire's tests in the style of seed 002 (portlisten.c, 2002): bind a
 * PF_UNIX SOCK_DGRAM socket at PATH, receive one datagram at a time, each
 * the byte "x" carrying one connection in SCM_RIGHTS, write STRING to the
 * connection and close it. After COUNT connections it exits 0. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

static int bind_dgram(const char *path)
{
  struct sockaddr_un name;
  int fd;

  if (unlink(path) < 0 && errno != ENOENT) {
    perror("unlink");
    return -1;
  }
  memset(&name, 0, sizeof(name));
  name.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(name.sun_path)) return -1;
  strcpy(name.sun_path, path);
  fd = socket(PF_UNIX, SOCK_DGRAM, 0);
  if (fd == -1) return -1;
  if (bind(fd, (struct sockaddr *)&name, sizeof(name))) {
    close(fd);
    return -1;
  }
  return fd;
}

/* one datagram: the byte 'x' and exactly one descriptor */
static int receive_fd(int fd)
{
  struct msghdr msg;
  struct iovec iov;
  char buf[1];
  int connfd;
  char ccmsg[CMSG_SPACE(sizeof(connfd))];
  struct cmsghdr *cmsg;

  iov.iov_base = buf;
  iov.iov_len = 1;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ccmsg;
  msg.msg_controllen = sizeof(ccmsg);

  if (recvmsg(fd, &msg, 0) != 1) {
    perror("recvmsg");
    return -1;
  }
  if (buf[0] != 'x' || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    fprintf(stderr, "unexpected datagram\n");
    return -1;
  }
  cmsg = CMSG_FIRSTHDR(&msg);
  if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
      cmsg->cmsg_len != CMSG_LEN(sizeof(connfd))) {
    fprintf(stderr, "no descriptor in the datagram\n");
    return -1;
  }
  memcpy(&connfd, CMSG_DATA(cmsg), sizeof(connfd));
  return connfd;
}

int main(int argc, char **argv)
{
  int fd, count, i;

  if (argc != 4) {
    fprintf(stderr, "Usage: %s path string count\n", argv[0]);
    return 2;
  }
  count = atoi(argv[3]);
  fd = bind_dgram(argv[1]);
  if (fd == -1) {
    perror("bind_dgram");
    return 1;
  }
  printf("bound\n");
  fflush(stdout);
  for (i = 0; i < count; i++) {
    int connfd = receive_fd(fd);
    if (connfd == -1) return 1;
    if (write(connfd, argv[2], strlen(argv[2])) < 0) perror("write");
    close(connfd);
  }
  close(fd);
  unlink(argv[1]);
  return 0;
}
