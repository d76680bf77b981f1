/*
 * kiln-tty-shim: runs a container process that has a terminal when kiln has none to hand it (`docker run -t`
 * and `docker exec -t` through `kiln serve`, `kiln run -d -t`), and behaves like a foreground `runc run` with
 * pipes: the terminal's output on fd 1, fd 0 typed into it, the process's exit status as the shim's own.
 *
 * Why a separate process: runc gives the pseudo-terminal's master end only to a --console-socket, only when it
 * detaches, and then the container's process is nobody's child. containerd's shim solves both as this does:
 * it is a child subreaper (so the detached process is re-parented to it and it can wait for its status) and it
 * receives the master over the socket (SCM_RIGHTS, which Node cannot). Doing either inside kiln's long-running
 * server would make it the reaper of every orphan below it.
 *
 * Usage: kiln-tty-shim RUNC ARG... — ARGs as for runc, with `@CONSOLE@` and `@PIDFILE@` standing for the console
 * socket and pid file the shim makes, e.g. `runc --root R run --detach --console-socket @CONSOLE@ --pid-file
 * @PIDFILE@ --bundle B ID`. fd 3, when open, takes `ROWS COLS\n` lines that resize the terminal.
 * Exit: the process's status (128+N for a signal); runc's own status if runc fails (its stderr passes through).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static char workdir[64];

static void cleanup(void) {
  char p[128];
  snprintf(p, sizeof p, "%s/console", workdir);
  unlink(p);
  snprintf(p, sizeof p, "%s/pid", workdir);
  unlink(p);
  rmdir(workdir);
}

static int die(const char *what) {
  fprintf(stderr, "kiln-tty-shim: %s: %s\n", what, strerror(errno));
  cleanup();
  return 125;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Accepts runc's connection and returns the fd it carries, or -1. */
static int receive_master(int listen_fd) {
  int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char data[256];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  int fd = -1;
  if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) > 0) {
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
      if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof(int))) memcpy(&fd, CMSG_DATA(h), sizeof fd);
    }
  }
  close(c);
  return fd;
}

static int status_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: kiln-tty-shim RUNC ARG... (with @CONSOLE@ and @PIDFILE@)\n");
    return 2;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return die("prctl(PR_SET_CHILD_SUBREAPER)");
  /* SIGCHLD through a signalfd, so the relay loop sees exits without races. */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return die("signalfd");
  signal(SIGPIPE, SIG_IGN);

  /* A private 0700 directory: nobody else can connect and hand over another terminal. */
  const char *tmp = getenv("TMPDIR");
  snprintf(workdir, sizeof workdir, "%s/kiln-tty-XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
  if (!mkdtemp(workdir)) return die("mkdtemp");
  char console_path[128], pid_path[128];
  snprintf(console_path, sizeof console_path, "%s/console", workdir);
  snprintf(pid_path, sizeof pid_path, "%s/pid", workdir);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, console_path, strlen(console_path) + 1); /* workdir is under 64 bytes */
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1) != 0) return die("console socket");

  char **args = calloc((size_t)argc, sizeof *args);
  for (int i = 1; i < argc; i++) {
    args[i - 1] = !strcmp(argv[i], "@CONSOLE@") ? console_path : !strcmp(argv[i], "@PIDFILE@") ? pid_path : argv[i];
  }
  pid_t runc = fork();
  if (runc < 0) return die("fork");
  if (runc == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(2, 1); /* runc prints nothing useful on stdout; keep fd 1 for the terminal's output */
    execvp(args[0], args);
    fprintf(stderr, "kiln-tty-shim: %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }

  /* Wait for the master, or for runc to fail without sending one. */
  int master = -1;
  for (;;) {
    struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; return die("poll"); }
    if (p[0].revents & POLLIN) { master = receive_master(lfd); break; }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
      int status;
      if (waitpid(runc, &status, WNOHANG) == runc) { cleanup(); return status_code(status); }
    }
  }
  close(lfd);
  int runc_status;
  while (waitpid(runc, &runc_status, 0) < 0 && errno == EINTR) {}
  if (master < 0 || status_code(runc_status) != 0) { cleanup(); return status_code(runc_status) ? status_code(runc_status) : 125; }
  pid_t init = 0;
  FILE *pf = fopen(pid_path, "r");
  if (pf) { if (fscanf(pf, "%d", &init) != 1) init = 0; fclose(pf); }
  cleanup();
  if (init <= 0) { fprintf(stderr, "kiln-tty-shim: runc wrote no pid\n"); return 125; }

  /* Relay until the process has exited and its terminal's output is drained. */
  int in_open = 1, ctl_open = fcntl(3, F_GETFD) != -1, out_open = 1, exited = 0, code = 0;
  char buf[65536], ctl[128];
  size_t ctl_len = 0;
  while (out_open) {
    struct pollfd p[4] = {
      {.fd = master, .events = POLLIN},
      {.fd = sfd, .events = POLLIN},
      {.fd = in_open ? 0 : -1, .events = POLLIN},
      {.fd = ctl_open ? 3 : -1, .events = POLLIN},
    };
    /* Once the process is gone, wait briefly for the last output, then stop: a background process that keeps
       the terminal open must not keep the container "running". */
    if (poll(p, 4, exited ? 200 : -1) < 0) { if (errno == EINTR) continue; break; }
    if (exited && !(p[0].revents & POLLIN)) break;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) write_all(1, buf, (size_t)n);
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) out_open = 0; /* EIO: every slave end closed */
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
      int status;
      pid_t w;
      while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
        if (w == init) { exited = 1; code = status_code(status); }
      }
    }
    if (p[2].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n > 0) write_all(master, buf, (size_t)n);
      else if (n == 0 || errno != EINTR) in_open = 0;
    }
    if (p[3].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(3, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
      if (n <= 0) { if (n == 0 || errno != EINTR) ctl_open = 0; }
      else {
        ctl_len += (size_t)n;
        ctl[ctl_len] = 0;
        char *nl;
        while ((nl = strchr(ctl, '\n'))) {
          unsigned rows = 0, cols = 0;
          if (sscanf(ctl, "%u %u", &rows, &cols) == 2 && rows && cols) {
            struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
            ioctl(master, TIOCSWINSZ, &ws);
          }
          size_t used = (size_t)(nl - ctl) + 1;
          memmove(ctl, nl + 1, ctl_len - used + 1);
          ctl_len -= used;
        }
        if (ctl_len == sizeof ctl - 1) ctl_len = 0; /* a line too long: drop it */
      }
    }
  }
  /* The output ended (EIO) before we saw the exit: wait for it. */
  while (!exited) {
    int status;
    pid_t w = waitpid(-1, &status, 0);
    if (w < 0) { if (errno == EINTR) continue; break; }
    if (w == init) { exited = 1; code = status_code(status); }
  }
  return code;
}
