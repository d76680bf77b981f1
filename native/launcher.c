/*
 * kiln's command launcher (native/build/kiln-launcher, run by bin/kiln). A `kiln build` whose root has a resident
 * builder up is forwarded to it here, without starting Node; everything else execs `node bin/kiln.js`, which
 * does all the rest (including builds without a daemon, which then start one).
 *
 * Why C: Node takes ~55 ms to start on the build machines before running a line of kiln, while a cached rebuild
 * is ~10 ms of work in the warm daemon. Bazel's client (C++ in front of a JVM server) and Nailgun's `ng` exist
 * for the same reason. This file is only a relay: it decides which daemon (the rules and hash of LAUNCHER_RULES in
 * src/cli/daemon/identity.ts, their one table: test/unit/cli/launcher-rules.test.ts reads this file's text and
 * fails when a list, skip rule, constant or the hash here differs from it, so keep the rule code below in the
 * shapes that test reads; test/integration/cli/launcher.test.ts also runs both on invocations), sends the
 * invocation, relays output, forwards Ctrl-C and exits with the build's code. The daemon re-checks the identity
 * and refuses a request computed differently; a refusal, a missing daemon or an unusual invocation all fall
 * back to Node, so the launcher can only make a build faster, never different.
 *
 * Protocol: src/cli/daemon/protocol.ts. KILN_LAUNCHER_DEBUG=1 prints the decision (key or skip reason) and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define MAX_SOCKET_PATH 100
#define FRAME_REQUEST 0x52
#define FRAME_INTERRUPT 0x49
#define FRAME_STDOUT 0x6f
#define FRAME_STDERR 0x65
#define FRAME_EXIT 0x78
#define DAEMON_LOST_EXIT 70

/* ---- growable byte buffer ---- */
typedef struct { char *p; size_t n, cap; } buf_t;

static void buf_put(buf_t *b, const void *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { perror("kiln"); exit(70); }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void buf_str(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }

/* JSON string with the escapes JSON.parse needs; bytes >= 0x80 pass through (UTF-8). */
static void buf_json(buf_t *b, const char *s) {
  buf_str(b, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') { char e[2] = {'\\', (char)*c}; buf_put(b, e, 2); }
    else if (*c < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", *c); buf_str(b, e); }
    else buf_put(b, c, 1);
  }
  buf_str(b, "\"");
}

/* ---- identity (mirrors LAUNCHER_RULES in src/cli/daemon/identity.ts; checked by a unit test) ---- */

static const char *const DAEMON_ENV[] = {
  "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ", "LANG", "LC_ALL",
  "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
  "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy", NULL,
};
static const char *const CLIENT_ONLY_KILN_ENV[] = {"KILN_DAEMON", "KILN_HOST", "KILN_DEBUG", "KILN_LAUNCHER_DEBUG", NULL};

static int in_list(const char *name, size_t len, const char *const *list) {
  for (; *list; list++) if (strlen(*list) == len && memcmp(*list, name, len) == 0) return 1;
  return 0;
}

static int daemon_relevant(const char *entry) {
  const char *eq = strchr(entry, '=');
  if (!eq) return 0;
  size_t len = (size_t)(eq - entry);
  if (in_list(entry, len, DAEMON_ENV)) return 1;
  return len >= 5 && memcmp(entry, "KILN_", 5) == 0 && !in_list(entry, len, CLIENT_ONLY_KILN_ENV);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* path.resolve(base, p): absolute result with ".", ".." and repeated slashes removed, no trailing slash. */
static void resolve_path(const char *base, const char *p, char *out, size_t outsz) {
  char tmp[PATH_MAX * 2];
  if (p[0] == '/') snprintf(tmp, sizeof tmp, "%s", p);
  else snprintf(tmp, sizeof tmp, "%s/%s", base, p);
  size_t n = 0;
  out[0] = 0;
  char *save = NULL;
  for (char *seg = strtok_r(tmp, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
    if (strcmp(seg, ".") == 0) continue;
    if (strcmp(seg, "..") == 0) {
      while (n > 0 && out[n - 1] != '/') n--;
      if (n > 0) n--;
      out[n] = 0;
      continue;
    }
    size_t l = strlen(seg);
    if (n + 1 + l + 1 > outsz) { out[0] = 0; return; }
    out[n++] = '/';
    memcpy(out + n, seg, l);
    n += l;
    out[n] = 0;
  }
  if (n == 0) snprintf(out, outsz, "/");
}

static void identity_hash(const unsigned char *s, size_t n, char out[17]) {
  uint32_t a = 0x811c9dc5u, b = 0x01000193u ^ 0x5bd1e995u;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = s[i];
    a = (a ^ c) * 0x01000193u;
    b = ((b ^ c) * 0x5bd1e995u) ^ (b >> 15);
  }
  snprintf(out, 17, "%08x%08x", a, b);
}

static int disabled(const char *v) {
  return v && (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"));
}

typedef struct { char root[PATH_MAX]; char key[17]; char socket[PATH_MAX]; } target_t;

/* Fills `t` and returns NULL when a daemon should serve `args`; else returns why not (identity.ts's words). */
static const char *target_for(int argc, char **args, const char *cwd, const char *build_id, target_t *t) {
  if (disabled(getenv("KILN_DAEMON"))) return "KILN_DAEMON disables it";
  const char *host = getenv("KILN_HOST");
  if (host && *host) return "a remote host";
  const char *root = NULL, *command = NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = args[i];
    if (!strcmp(a, "--root")) { root = i + 1 < argc ? args[++i] : NULL; continue; }
    if (!strncmp(a, "--root=", 7)) { root = a + 7; continue; }
    if (!strcmp(a, "-H") || !strcmp(a, "--host") || !strncmp(a, "--host=", 7) || (!strncmp(a, "-H", 2) && strlen(a) > 2)) return "a remote host";
    if (!strcmp(a, "--no-daemon")) return "--no-daemon";
    if (!strcmp(a, "-") || !strcmp(a, "--file=-") || !strcmp(a, "-f-")) return "stdin";
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return "help";
    if (!command && a[0] != '-') command = a;
  }
  if (!command || (strcmp(command, "build") && strcmp(command, "push"))) return "not a build or push";
  if (root && !*root) return "an empty --root";
  if (root) resolve_path(cwd, root, t->root, sizeof t->root);
  else {
    const char *env_root = getenv("KILN_ROOT");
    if (env_root && *env_root) resolve_path(cwd, env_root, t->root, sizeof t->root);
    else if (getuid() == 0) snprintf(t->root, sizeof t->root, "/var/lib/kiln");
    else {
      const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
      char data[PATH_MAX];
      if (xdg) snprintf(data, sizeof data, "%s/kiln", xdg);
      else if (home && *home) snprintf(data, sizeof data, "%s/.local/share/kiln", home);
      else return "no home directory (Node decides)";
      if (data[0] != '/') return "a relative data directory (Node decides)";
      resolve_path("/", data, t->root, sizeof t->root);
    }
  }
  if (!t->root[0]) return "the root path is too long for a unix socket";
  /* [buildId, rootDir, ...sorted daemon-relevant K=V].join('\0') */
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  char **rel = calloc(n + 1, sizeof *rel);
  size_t m = 0;
  for (char **e = environ; *e; e++) if (daemon_relevant(*e)) rel[m++] = *e;
  qsort(rel, m, sizeof *rel, cmp_str);
  buf_t id = {0};
  buf_str(&id, build_id);
  buf_put(&id, "", 1);
  buf_str(&id, t->root);
  for (size_t i = 0; i < m; i++) { buf_put(&id, "", 1); buf_str(&id, rel[i]); }
  identity_hash((const unsigned char *)id.p, id.n, t->key);
  free(rel);
  free(id.p);
  if (strlen(t->root) + sizeof "/daemon/.sock" + 16 > MAX_SOCKET_PATH + 1) return "the root path is too long for a unix socket";
  snprintf(t->socket, MAX_SOCKET_PATH + 1, "%s/daemon/%s.sock", strcmp(t->root, "/") ? t->root : "", t->key);
  return NULL;
}

/* ---- relay ---- */

static int sigpipe_fds[2] = {-1, -1};
static void on_signal(int sig) {
  int saved = errno;
  unsigned char s = (unsigned char)sig;
  if (write(sigpipe_fds[1], &s, 1) < 0) { /* pipe full: a signal is pending already */ }
  errno = saved;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_frame(int fd, int type, const void *p, size_t n) {
  unsigned char head[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  return write_all(fd, head, 5) || (n && write_all(fd, p, n)) ? -1 : 0;
}

static void term_json(buf_t *b, int fd) {
  if (isatty(fd)) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0) { /* 0 columns too: Node's tty stream reports what the ioctl says */
      char s[64];
      snprintf(s, sizeof s, "{\"isTTY\":true,\"columns\":%u}", ws.ws_col);
      buf_str(b, s);
    } else buf_str(b, "{\"isTTY\":true}");
  } else buf_str(b, "{\"isTTY\":false}");
}

/* Returns the exit code, or -1 to fall back to Node (no daemon, or it refused before any output). */
static int serve(const target_t *t, int argc, char **args, const char *cwd) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, t->socket, strlen(t->socket) + 1); /* <= MAX_SOCKET_PATH + 1 bytes, checked in target_for */
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) { close(s); return -1; }

  buf_t req = {0};
  buf_str(&req, "{\"key\":");
  buf_json(&req, t->key);
  buf_str(&req, ",\"argv\":[\"node\",\"kiln\"");
  for (int i = 0; i < argc; i++) { buf_str(&req, ","); buf_json(&req, args[i]); }
  buf_str(&req, "],\"cwd\":");
  buf_json(&req, cwd);
  buf_str(&req, ",\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    char *name = strndup(*e, (size_t)(eq - *e));
    if (!first) buf_str(&req, ",");
    first = 0;
    buf_json(&req, name);
    buf_str(&req, ":");
    buf_json(&req, eq + 1);
    free(name);
  }
  buf_str(&req, "},\"stdout\":");
  term_json(&req, 1);
  buf_str(&req, ",\"stderr\":");
  term_json(&req, 2);
  buf_str(&req, "}");
  if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) { close(s); free(req.p); return -1; }
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout (`| head`) must not end the relay; its writes are dropped */
  if (send_frame(s, FRAME_REQUEST, req.p, req.n) < 0) { close(s); free(req.p); return -1; }
  free(req.p);

  int output = 0, interrupts = 0, code = -2;
  buf_t in = {0};
  char chunk[65536];
  for (;;) {
    struct pollfd fds[2] = {{.fd = s, .events = POLLIN}, {.fd = sigpipe_fds[0], .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) { if (errno == EINTR) continue; break; }
    if (fds[1].revents & POLLIN) {
      unsigned char sig;
      while (read(sigpipe_fds[0], &sig, 1) == 1) {
        /* The first Ctrl-C cancels the build cleanly in the daemon; a second stops waiting (the closed
           connection cancels it too). */
        if (++interrupts == 1) send_frame(s, FRAME_INTERRUPT, NULL, 0);
        else { close(s); return 130; }
      }
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = read(s, chunk, sizeof chunk);
    if (r < 0) { if (errno == EINTR) continue; break; }
    if (r == 0) break;
    buf_put(&in, chunk, (size_t)r);
    size_t off = 0;
    while (in.n - off >= 5) {
      const unsigned char *h = (const unsigned char *)in.p + off;
      size_t len = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
      if (in.n - off < 5 + len) break;
      const char *payload = in.p + off + 5;
      if (h[0] == FRAME_STDOUT || h[0] == FRAME_STDERR) {
        output = 1;
        write_all(h[0] == FRAME_STDOUT ? 1 : 2, payload, len); /* EPIPE: dropped, as the Node client does */
      } else if (h[0] == FRAME_EXIT) {
        char exitbuf[512];
        size_t l = len < sizeof exitbuf - 1 ? len : sizeof exitbuf - 1;
        memcpy(exitbuf, payload, l);
        exitbuf[l] = 0;
        const char *c = strstr(exitbuf, "\"code\":");
        if (strstr(exitbuf, "\"refused\"")) code = -1;
        else code = c ? atoi(c + 7) : 1;
      }
      off += 5 + len;
    }
    memmove(in.p, in.p + off, in.n - off);
    in.n -= off;
    if (code != -2) break;
  }
  close(s);
  free(in.p);
  if (code >= 0) return code;
  if (code == -1 || !output) return -1;
  fprintf(stderr, "error: the resident builder exited during the build\nhint: its log is in %s/daemon; KILN_DAEMON=0 builds without it\n", t->root);
  return DAEMON_LOST_EXIT;
}

int main(int argc, char **argv) {
  /* The checkout: this binary is <repo>/native/build/kiln-launcher. */
  char repo[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", repo, sizeof repo - 1);
  if (n <= 0) { perror("kiln: /proc/self/exe"); return 70; }
  repo[n] = 0;
  for (int up = 0; up < 3; up++) { char *sl = strrchr(repo, '/'); if (sl) *sl = 0; }
  char node_entry[PATH_MAX + 32];
  snprintf(node_entry, sizeof node_entry, "%s/bin/kiln.js", repo);

  int debug = getenv("KILN_LAUNCHER_DEBUG") != NULL;
  char cwd[PATH_MAX];
  char build_id[256] = "";
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/dist/build-id", repo);
  FILE *f = fopen(path, "r");
  if (f) {
    if (!fgets(build_id, sizeof build_id, f)) build_id[0] = 0;
    fclose(f);
    build_id[strcspn(build_id, "\r\n \t")] = 0;
  }
  /* As identity.ts's readBuildId: the stamp, '@', dist/cli/main.js's mtime in ns (every compile rewrites it). */
  snprintf(path, sizeof path, "%s/dist/cli/main.js", repo);
  struct stat st;
  if (build_id[0] && stat(path, &st) == 0) {
    size_t len = strlen(build_id);
    unsigned long long ns = (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)st.st_mtim.tv_nsec;
    snprintf(build_id + len, sizeof build_id - len, "@%llu", ns);
  } else build_id[0] = 0;
  target_t t;
  const char *skip = !build_id[0] ? "no dist/build-id" : !getcwd(cwd, sizeof cwd) ? "no cwd" : target_for(argc - 1, argv + 1, cwd, build_id, &t);
  if (debug) {
    if (skip) printf("skip %s\n", skip);
    else printf("key %s\nroot %s\nsocket %s\n", t.key, t.root, t.socket);
    return 0;
  }
  if (!skip) {
    int code = serve(&t, argc - 1, argv + 1, cwd);
    if (code >= 0) return code;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
  }
  char **nargv = calloc((size_t)argc + 2, sizeof *nargv);
  nargv[0] = "node";
  nargv[1] = node_entry;
  for (int i = 1; i < argc; i++) nargv[i + 1] = argv[i];
  execvp("node", nargv);
  fprintf(stderr, "kiln: cannot run node: %s\nhint: install Node 20 or later and put it on PATH\n", strerror(errno));
  return 127;
}
