/*
 * kiln-fsx: the few Linux file system calls Node lacks and layers need: extended attributes (read and write
 * byte-exact, without following symlinks), mknod (device nodes, fifos, overlayfs whiteouts), and mount(2) /
 * umount2(2) for the overlay and bind mounts of every COPY and RUN step (a mount(8) + umount(8) pair of child
 * processes cost 8.4 ms a step here, the two calls 0.8 ms).
 *
 * Why an addon and not `setfattr`/`mknod` child processes: a layer touches xattrs on every file it packs or
 * unpacks, and whiteouts are one mknod each; a spawned mknod(1) cost 3.6-24 ms here, 12-57x the addon's
 * call (bench/layer-bench.ts), and `setfattr` is not even installed by default (Debian's `attr`).
 * Plain C on Node-API (ABI-stable, no node-addon-api), built by scripts/setup.sh with `cc` in a second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <dirent.h>
#include <uv.h>

#define PATH_MAX_LEN 4096
#define NAME_MAX_LEN 256

/* An Error shaped like Node's own system errors: code ('ENOENT'), errno, syscall, path. */
static napi_value errno_error(napi_env env, int err, const char *syscall, const char *path) {
  const char *code = uv_err_name(uv_translate_sys_error(err));
  char msg[PATH_MAX_LEN + 200];
  snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, strerror(err), syscall, path);
  napi_value m, c, e, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_set_named_property(env, e, "code", c);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "path", v);
  return e;
}

/* Throws errno_error(...). */
static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, err, syscall, path));
  return NULL;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return -1;
  }
  if (len >= cap - 1) {
    napi_throw_range_error(env, NULL, "string too long");
    return -1;
  }
  return 0;
}

/* lgetxattrs(path) -> [[name, Buffer], ...] | null. One call per file: list then read every value. */
static napi_value lgetxattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_LEN];
  if (argc < 1 || get_string(env, argv[0], path, sizeof path)) return NULL;

  char stackbuf[1024];
  char *names = stackbuf;
  ssize_t n = llistxattr(path, names, sizeof stackbuf);
  if (n < 0 && errno == ERANGE) {
    ssize_t need = llistxattr(path, NULL, 0);
    if (need < 0) return throw_errno(env, errno, "llistxattr", path);
    names = malloc(need + 1);
    n = llistxattr(path, names, need);
  }
  if (n < 0) {
    int err = errno;
    if (names != stackbuf) free(names);
    if (err == ENOTSUP) { napi_value nul; napi_get_null(env, &nul); return nul; }
    return throw_errno(env, err, "llistxattr", path);
  }
  napi_value result;
  if (n == 0) { napi_get_null(env, &result); return result; }
  napi_create_array(env, &result);
  uint32_t idx = 0;
  for (char *name = names; name < names + n; name += strlen(name) + 1) {
    ssize_t vlen = lgetxattr(path, name, NULL, 0);
    if (vlen < 0) {
      if (errno == ENODATA) continue; /* removed between list and get */
      int err = errno;
      if (names != stackbuf) free(names);
      return throw_errno(env, err, "lgetxattr", path);
    }
    void *data;
    napi_value buf;
    napi_create_buffer(env, vlen, &data, &buf);
    if (vlen > 0) {
      ssize_t got = lgetxattr(path, name, data, vlen);
      if (got < 0) {
        int err = errno;
        if (names != stackbuf) free(names);
        return throw_errno(env, err, "lgetxattr", path);
      }
      if (got < vlen) napi_create_buffer_copy(env, got, data, NULL, &buf);
    }
    napi_value pair, key;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &key);
    napi_set_element(env, pair, 0, key);
    napi_set_element(env, pair, 1, buf);
    napi_set_element(env, result, idx++, pair);
  }
  if (names != stackbuf) free(names);
  return result;
}

/* lsetxattr(path, name, Buffer) */
static napi_value lsetxattr_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_LEN], name[NAME_MAX_LEN];
  if (argc < 3 || get_string(env, argv[0], path, sizeof path) || get_string(env, argv[1], name, sizeof name)) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return NULL;
}

/* mknod(path, mode, major, minor): mode carries the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
static napi_value mknod_js(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_LEN];
  uint32_t mode = 0, major = 0, minor = 0;
  if (argc < 4 || get_string(env, argv[0], path, sizeof path)) return NULL;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &major);
  napi_get_value_uint32(env, argv[3], &minor);
  if (mknod(path, (mode_t)mode, makedev(major, minor)) != 0) return throw_errno(env, errno, "mknod", path);
  return NULL;
}

/* rdev(major/minor) split helpers live in JS; this exposes the kernel's own encoding for st_rdev. */
static napi_value devsplit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t rdev = 0;
  napi_get_value_int64(env, argv[0], &rdev);
  napi_create_array_with_length(env, 2, &out);
  napi_create_uint32(env, major((dev_t)rdev), &v);
  napi_set_element(env, out, 0, v);
  napi_create_uint32(env, minor((dev_t)rdev), &v);
  napi_set_element(env, out, 1, v);
  return out;
}

/*
 * mount(2) and umount2(2) run on libuv's thread pool and return promises: unmounting an overlay syncs its
 * upper file system, which took 10-30 ms here under other jobs' I/O, and must not stall the event loop (the
 * server runs many builds in one process).
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int umount;
  char source[PATH_MAX_LEN], target[PATH_MAX_LEN], fstype[NAME_MAX_LEN], data[PATH_MAX_LEN + 1];
  int has_data;
  uint32_t flags;
  int err;
} mount_req;

static void mount_exec(napi_env env, void *p) {
  (void)env;
  mount_req *r = p;
  int rc = r->umount ? umount2(r->target, (int)r->flags)
                     : mount(r->source, r->target, r->fstype, r->flags, r->has_data ? r->data : NULL);
  r->err = rc != 0 ? errno : 0;
}

static void mount_done(napi_env env, napi_status status, void *p) {
  mount_req *r = p;
  if (status == napi_ok && r->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, r->deferred, undef);
  } else {
    napi_reject_deferred(env, r->deferred, errno_error(env, r->err ? r->err : ECANCELED, r->umount ? "umount2" : "mount", r->target));
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

static napi_value queue_mount(napi_env env, mount_req *r) {
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "kiln-mount", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, mount_exec, mount_done, r, &r->work);
  napi_queue_async_work(env, r->work);
  return promise;
}

/* mount(source, target, fstype, flags, data|null) -> Promise<void>: mount(2) as is; flags are the MS_* bits. */
static napi_value mount_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_req *r = calloc(1, sizeof *r);
  if (!r) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  if (argc < 5 || get_string(env, argv[0], r->source, sizeof r->source) || get_string(env, argv[1], r->target, sizeof r->target) ||
      get_string(env, argv[2], r->fstype, sizeof r->fstype)) { free(r); return NULL; }
  napi_get_value_uint32(env, argv[3], &r->flags);
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  r->has_data = t == napi_string;
  if (r->has_data && get_string(env, argv[4], r->data, sizeof r->data)) { free(r); return NULL; }
  return queue_mount(env, r);
}

/* umount2(target, flags) -> Promise<void>: flags as MNT_DETACH (2). */
static napi_value umount2_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_req *r = calloc(1, sizeof *r);
  if (!r) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  r->umount = 1;
  if (argc < 2 || get_string(env, argv[0], r->target, sizeof r->target)) { free(r); return NULL; }
  napi_get_value_uint32(env, argv[1], &r->flags);
  return queue_mount(env, r);
}


/*
 * No-follow walks inside a root: a tree a container wrote (its rootfs, its overlay upper dir) may hold symlinks
 * to anywhere, so kiln reaches a path in it one component at a time with openat(O_PATH|O_NOFOLLOW|O_DIRECTORY)
 * from the root: a symlink or a non-directory on the way is ELOOP/ENOTDIR, `..` and `.` are refused, and the
 * last component is acted on through the parent's descriptor (fstatat/mkdirat/openat/unlinkat, never followed).
 */

/* Opens the parent directory of `rel` (relative to `root`, '/'-separated) without following any symlink; sets
 * *last to the final component. Returns the fd or -1 with errno (ELOOP: a symlink on the way). */
static int open_parent_beneath(const char *root, char *rel, char **last) {
  int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  char *save = NULL, *comp = strtok_r(rel, "/", &save), *next;
  if (!comp) { close(fd); errno = EINVAL; return -1; }
  while ((next = strtok_r(NULL, "/", &save)) != NULL) {
    if (!strcmp(comp, ".") || !strcmp(comp, "..")) { close(fd); errno = EINVAL; return -1; }
    int sub = openat(fd, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (sub < 0) {
      int err = errno;
      struct stat st;
      /* O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR: name it for what it is. */
      if (err == ENOTDIR && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) err = ELOOP;
      close(fd);
      errno = err;
      return -1;
    }
    close(fd);
    fd = sub;
    comp = next;
  }
  if (!strcmp(comp, ".") || !strcmp(comp, "..")) { close(fd); errno = EINVAL; return -1; }
  *last = comp;
  return fd;
}

static napi_value bigint_u64(napi_env env, uint64_t v) {
  napi_value out;
  napi_create_bigint_uint64(env, v, &out);
  return out;
}

static void set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}

/* { dev, ino (bigint), mode, uid, gid, size } of a stat. */
static napi_value stat_object(napi_env env, const struct stat *st) {
  napi_value obj;
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "dev", bigint_u64(env, (uint64_t)st->st_dev));
  napi_set_named_property(env, obj, "ino", bigint_u64(env, (uint64_t)st->st_ino));
  set_num(env, obj, "mode", st->st_mode);
  set_num(env, obj, "uid", st->st_uid);
  set_num(env, obj, "gid", st->st_gid);
  set_num(env, obj, "size", (double)st->st_size);
  return obj;
}

/* Reads (root, rel) arguments; rel is copied so strtok_r may cut it. */
static int root_rel_args(napi_env env, napi_value *argv, size_t argc, size_t need, char *root, char *rel) {
  if (argc < need) { napi_throw_type_error(env, NULL, "missing arguments"); return -1; }
  if (get_string(env, argv[0], root, PATH_MAX_LEN) || get_string(env, argv[1], rel, PATH_MAX_LEN)) return -1;
  return 0;
}

/* lstatBeneath(root, rel) -> stat object | null (the last component is missing). Throws ELOOP/ENOTDIR/EINVAL
 * when the way there is not plain directories. */
static napi_value lstat_beneath(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char root[PATH_MAX_LEN], rel[PATH_MAX_LEN], shown[PATH_MAX_LEN], *last;
  if (root_rel_args(env, argv, argc, 2, root, rel)) return NULL;
  memcpy(shown, rel, sizeof shown);
  int fd = open_parent_beneath(root, rel, &last);
  if (fd < 0) return throw_errno(env, errno, "openat", shown);
  struct stat st;
  int rc = fstatat(fd, last, &st, AT_SYMLINK_NOFOLLOW);
  int err = errno;
  close(fd);
  if (rc != 0) {
    if (err == ENOENT) { napi_value nul; napi_get_null(env, &nul); return nul; }
    return throw_errno(env, err, "fstatat", shown);
  }
  return stat_object(env, &st);
}

/* makeBeneath(root, rel, isDir, mode) -> stat object of the new directory (mkdirat) or empty file (openat
 * O_CREAT|O_EXCL|O_NOFOLLOW). Throws EEXIST when something is there already. */
static napi_value make_beneath(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char root[PATH_MAX_LEN], rel[PATH_MAX_LEN], shown[PATH_MAX_LEN], *last;
  if (root_rel_args(env, argv, argc, 4, root, rel)) return NULL;
  bool is_dir = false;
  uint32_t mode = 0;
  napi_get_value_bool(env, argv[2], &is_dir);
  napi_get_value_uint32(env, argv[3], &mode);
  memcpy(shown, rel, sizeof shown);
  int fd = open_parent_beneath(root, rel, &last);
  if (fd < 0) return throw_errno(env, errno, "openat", shown);
  struct stat st;
  int rc, err;
  if (is_dir) {
    rc = mkdirat(fd, last, (mode_t)mode);
    if (rc == 0) {
      int d = openat(fd, last, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
      rc = d < 0 ? -1 : fstat(d, &st);
      if (d >= 0) close(d);
    }
  } else {
    int f = openat(fd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    rc = f < 0 ? -1 : fstat(f, &st);
    if (f >= 0) close(f);
  }
  err = errno;
  close(fd);
  if (rc != 0) return throw_errno(env, err, is_dir ? "mkdirat" : "openat", shown);
  return stat_object(env, &st);
}

/* removeBeneath(root, rel, isDir, dev, ino) -> true when removed; false when the entry is missing, is not the
 * inode (dev, ino bigints) named, is not of the kind asked, or is a directory that is not empty. */
static napi_value remove_beneath(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char root[PATH_MAX_LEN], rel[PATH_MAX_LEN], shown[PATH_MAX_LEN], *last;
  if (root_rel_args(env, argv, argc, 5, root, rel)) return NULL;
  bool is_dir = false, lossless = true;
  uint64_t dev = 0, ino = 0;
  napi_get_value_bool(env, argv[2], &is_dir);
  if (napi_get_value_bigint_uint64(env, argv[3], &dev, &lossless) != napi_ok ||
      napi_get_value_bigint_uint64(env, argv[4], &ino, &lossless) != napi_ok) {
    napi_throw_type_error(env, NULL, "dev and ino must be bigints");
    return NULL;
  }
  memcpy(shown, rel, sizeof shown);
  int fd = open_parent_beneath(root, rel, &last);
  if (fd < 0) {
    if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) { napi_get_boolean(env, false, &result); return result; }
    return throw_errno(env, errno, "openat", shown);
  }
  struct stat st;
  bool removed = false;
  if (fstatat(fd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino &&
      (is_dir ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode))) {
    if (unlinkat(fd, last, is_dir ? AT_REMOVEDIR : 0) == 0) removed = true;
    else if (errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST && errno != EBUSY) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "unlinkat", shown);
    }
  }
  close(fd);
  napi_get_boolean(env, removed, &result);
  return result;
}

/* readBeneath(root, rel, maxBytes) -> Buffer | null (missing). The last component is opened
 * O_RDONLY|O_NOFOLLOW|O_NONBLOCK from its no-follow parent; it must be a regular file of at most maxBytes (EFTYPE is
 * not Linux's: a non-regular file is EINVAL, a larger one EFBIG). Nothing on the way can be swapped for a symlink
 * between a check and the read: the walk and the read are the same descriptors. */
static napi_value read_beneath(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char root[PATH_MAX_LEN], rel[PATH_MAX_LEN], shown[PATH_MAX_LEN], *last;
  if (root_rel_args(env, argv, argc, 3, root, rel)) return NULL;
  double max_bytes = 0;
  napi_get_value_double(env, argv[2], &max_bytes);
  memcpy(shown, rel, sizeof shown);
  int dir = open_parent_beneath(root, rel, &last);
  if (dir < 0) {
    if (errno == ENOENT) { napi_get_null(env, &result); return result; }
    return throw_errno(env, errno, "openat", shown);
  }
  int fd = openat(dir, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  int err = errno;
  close(dir);
  if (fd < 0) {
    if (err == ENOENT) { napi_get_null(env, &result); return result; }
    return throw_errno(env, err, "openat", shown);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) { err = errno; close(fd); return throw_errno(env, err, "fstat", shown); }
  if (!S_ISREG(st.st_mode)) { close(fd); return throw_errno(env, EINVAL, "open", shown); }
  if ((double)st.st_size > max_bytes) { close(fd); return throw_errno(env, EFBIG, "open", shown); }
  size_t size = (size_t)st.st_size, got = 0;
  char *buf = malloc(size ? size : 1);
  if (!buf) { close(fd); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { err = errno; free(buf); close(fd); return throw_errno(env, err, "read", shown); }
    if (n == 0) break; /* shrank while read: what is there */
    got += (size_t)n;
  }
  close(fd);
  void *data;
  napi_create_buffer_copy(env, got, buf, &data, &result);
  free(buf);
  return result;
}

/* Fields per entry in scanDir's stats array, in this order (times as seconds and nanoseconds, as Node keeps them). */
#define SCAN_FIELDS 16

static int by_bytes(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* One directory's scan, made without touching JS (so it can run on a libuv worker thread). */
struct scan {
  char path[PATH_MAX_LEN];
  char **names;
  size_t n;
  double *fields;
  int err;                                      /* errno of the failed call, 0 on success */
  const char *syscall;                          /* "scandir" or "lstat" */
  char shown[PATH_MAX_LEN + NAME_MAX_LEN + 2];  /* the path it failed on */
  napi_deferred deferred;
  napi_async_work work;
};

static void scan_free(struct scan *sc) {
  for (size_t i = 0; sc->names && i < sc->n; i++) free(sc->names[i]);
  free(sc->names);
  free(sc->fields);
  free(sc);
}

/* Reads sc->path: names (sorted by bytes) and SCAN_FIELDS numbers per name, or sc->err and where it failed. */
static void scan_collect(struct scan *sc) {
  sc->syscall = "scandir";
  snprintf(sc->shown, sizeof sc->shown, "%s", sc->path);
  int fd = open(sc->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { sc->err = errno; return; }
  DIR *dir = fdopendir(fd);
  if (!dir) { sc->err = errno; close(fd); return; }
  size_t cap = 64;
  sc->names = malloc(cap * sizeof *sc->names);
  struct dirent *d;
  errno = 0;
  while (sc->names && (d = readdir(dir)) != NULL) {
    if (d->d_name[0] == '.' && (d->d_name[1] == 0 || (d->d_name[1] == '.' && d->d_name[2] == 0))) continue;
    if (sc->n == cap) {
      char **grown = realloc(sc->names, (cap *= 2) * sizeof *sc->names);
      if (!grown) { sc->err = ENOMEM; break; }
      sc->names = grown;
    }
    if (!(sc->names[sc->n] = strdup(d->d_name))) { sc->err = ENOMEM; break; }
    sc->n++;
  }
  if (!sc->names) sc->err = ENOMEM;
  else if (!sc->err && errno) sc->err = errno;
  if (!sc->err) {
    qsort(sc->names, sc->n, sizeof *sc->names, by_bytes);
    sc->fields = malloc((sc->n ? sc->n : 1) * SCAN_FIELDS * sizeof(double));
    if (!sc->fields) sc->err = ENOMEM;
  }
  for (size_t i = 0; !sc->err && i < sc->n; i++) {
    struct stat st;
    if (fstatat(dirfd(dir), sc->names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
      sc->err = errno;
      sc->syscall = "lstat";
      snprintf(sc->shown, sizeof sc->shown, "%s/%s", sc->path, sc->names[i]);
      break;
    }
    double *o = sc->fields + i * SCAN_FIELDS;
    o[0] = (double)st.st_dev; o[1] = (double)st.st_mode; o[2] = (double)st.st_nlink; o[3] = (double)st.st_uid;
    o[4] = (double)st.st_gid; o[5] = (double)st.st_rdev; o[6] = (double)st.st_ino; o[7] = (double)st.st_size;
    o[8] = (double)st.st_atim.tv_sec; o[9] = (double)st.st_atim.tv_nsec;
    o[10] = (double)st.st_mtim.tv_sec; o[11] = (double)st.st_mtim.tv_nsec;
    o[12] = (double)st.st_ctim.tv_sec; o[13] = (double)st.st_ctim.tv_nsec;
    o[14] = (double)st.st_blksize; o[15] = (double)st.st_blocks;
  }
  closedir(dir);
}

/* [names, Float64Array] of a successful scan. */
static napi_value scan_result(napi_env env, const struct scan *sc) {
  napi_value result, list, buf, arr, name;
  double *f = NULL;
  napi_create_arraybuffer(env, sc->n * SCAN_FIELDS * sizeof(double), (void **)&f, &buf);
  if (sc->n) memcpy(f, sc->fields, sc->n * SCAN_FIELDS * sizeof(double));
  napi_create_array_with_length(env, sc->n, &list);
  for (size_t i = 0; i < sc->n; i++) {
    napi_create_string_utf8(env, sc->names[i], NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, list, (uint32_t)i, name);
  }
  napi_create_typedarray(env, napi_float64_array, sc->n * SCAN_FIELDS, buf, 0, &arr);
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, list);
  napi_set_element(env, result, 1, arr);
  return result;
}

/* Allocates a scan of the path in argv[0], or throws and returns NULL. */
static struct scan *scan_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct scan *sc = calloc(1, sizeof *sc);
  if (!sc) { throw_errno(env, ENOMEM, "scandir", ""); return NULL; }
  if (argc < 1 || get_string(env, argv[0], sc->path, sizeof sc->path) < 0) { free(sc); return NULL; }
  return sc;
}

/*
 * scanDir(dir): the names in a directory sorted by their bytes, and the lstat of each as one Float64Array of
 * SCAN_FIELDS numbers per name (dev, mode, nlink, uid, gid, rdev, ino, size, atime s, ns, mtime s, ns, ctime s, ns,
 * blksize, blocks). The directory is opened without following a symlink and each entry is stat'ed through it
 * (fstatat, AT_SYMLINK_NOFOLLOW). One call per directory instead of a readdir plus an lstat per file: a context
 * of 5,000 files is walked at every build to prove it unchanged, and Node's per-call cost was most of that walk.
 */
static napi_value scan_dir(napi_env env, napi_callback_info info) {
  struct scan *sc = scan_new(env, info);
  if (!sc) return NULL;
  scan_collect(sc);
  napi_value result = NULL;
  if (sc->err) throw_errno(env, sc->err, sc->syscall, sc->shown);
  else result = scan_result(env, sc);
  scan_free(sc);
  return result;
}

static void scan_execute(napi_env env, void *data) {
  (void)env;
  scan_collect(data);
}

static void scan_complete(napi_env env, napi_status status, void *data) {
  struct scan *sc = data;
  if (status != napi_ok && !sc->err) sc->err = ECANCELED;
  if (sc->err) napi_reject_deferred(env, sc->deferred, errno_error(env, sc->err, sc->syscall, sc->shown));
  else napi_resolve_deferred(env, sc->deferred, scan_result(env, sc));
  napi_delete_async_work(env, sc->work);
  scan_free(sc);
}

/*
 * scanDirAsync(dir): scanDir on a libuv worker thread, as a promise. A walk scans the subdirectories it will
 * enter side by side: on a machine whose system calls are slow (a VM), the fstatat calls of a large context are
 * most of a no-op build, and the thread pool spreads them over the cores.
 */
static napi_value scan_dir_async(napi_env env, napi_callback_info info) {
  struct scan *sc = scan_new(env, info);
  if (!sc) return NULL;
  napi_value promise, name;
  napi_create_promise(env, &sc->deferred, &promise);
  napi_create_string_utf8(env, "kiln.scanDir", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, scan_execute, scan_complete, sc, &sc->work) != napi_ok ||
      napi_queue_async_work(env, sc->work) != napi_ok) {
    napi_reject_deferred(env, sc->deferred, errno_error(env, EAGAIN, "scandir", sc->path));
    scan_free(sc);
  }
  return promise;
}

#if defined(__x86_64__)
/* getpid through the 32-bit x86 ABI (int 0x80, call 20): the pid, a negative errno, or SIGSEGV without it. */
static long ia32_getpid(void) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
  return r;
}

/* getpid through the x32 ABI (bit 30 set): the pid, or -1 with ENOSYS without it. */
static long x32_getpid(void) { return syscall(0x40000000L | 39); }

/* Runs `call` in a child process: true when it returned a pid, false when it failed or the child died of it. */
static bool runs_in_child(long (*call)(void)) {
  pid_t pid = fork();
  if (pid < 0) return true; /* cannot tell: keep the ABI */
  if (pid == 0) _exit(call() > 0 ? 0 : 1);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return true;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

/*
 * compatAbis(): [ia32, x32], whether this kernel runs system calls of the 32-bit x86 ABI and of the x32 ABI for
 * this process (x86_64 only; [false, false] elsewhere). Each is tried in a forked child, because where the ABI is
 * missing the call ends the caller: int 0x80 without IA32 emulation raises SIGSEGV, and a seccomp filter on kiln
 * itself that leaves an ABI out kills with SIGSYS (then the containers could not use it either).
 */
static napi_value compat_abis(napi_env env, napi_callback_info info) {
  (void)info;
  bool ia32 = false, x32 = false;
#if defined(__x86_64__)
  ia32 = runs_in_child(ia32_getpid);
  x32 = runs_in_child(x32_getpid);
#endif
  napi_value result, v;
  napi_create_array_with_length(env, 2, &result);
  napi_get_boolean(env, ia32, &v);
  napi_set_element(env, result, 0, v);
  napi_get_boolean(env, x32, &v);
  napi_set_element(env, result, 1, v);
  return result;
}

/*
 * sealedCopy(path): a sealed, close-on-exec memfd holding the file's bytes, for runc. runc 1.1 guards the host's
 * binary against a container rewriting it (CVE-2019-5736) by re-executing itself from a read-only copy at every
 * start (a bind mount and a second execve here); a runc executed from a memfd sealed against writing, growing and
 * shrinking is that copy already, and runc checks for exactly these seals and skips the step. Returns the fd.
 */
static napi_value sealed_copy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  char path[PATH_MAX_LEN];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || get_string(env, argv[0], path, sizeof path) < 0) return NULL;
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) return throw_errno(env, errno, "open", path);
  struct stat st;
  if (fstat(src, &st) < 0) { int err = errno; close(src); return throw_errno(env, err, "fstat", path); }
  int fd = memfd_create("kiln-runc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) { int err = errno; close(src); return throw_errno(env, err, "memfd_create", path); }
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(fd, src, NULL, (size_t)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { int err = n < 0 ? errno : EIO; close(src); close(fd); return throw_errno(env, err, "sendfile", path); }
    left -= n;
  }
  close(src);
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "fcntl(F_ADD_SEALS)", path);
  }
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"lgetxattrs", NULL, lgetxattrs, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, lsetxattr_js, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, mknod_js, NULL, NULL, NULL, napi_default, NULL},
    {"devsplit", NULL, devsplit, NULL, NULL, NULL, napi_default, NULL},
    {"mount", NULL, mount_js, NULL, NULL, NULL, napi_default, NULL},
    {"umount2", NULL, umount2_js, NULL, NULL, NULL, napi_default, NULL},
    {"lstatBeneath", NULL, lstat_beneath, NULL, NULL, NULL, napi_default, NULL},
    {"readBeneath", NULL, read_beneath, NULL, NULL, NULL, napi_default, NULL},
    {"makeBeneath", NULL, make_beneath, NULL, NULL, NULL, napi_default, NULL},
    {"removeBeneath", NULL, remove_beneath, NULL, NULL, NULL, napi_default, NULL},
    {"sealedCopy", NULL, sealed_copy, NULL, NULL, NULL, napi_default, NULL},
    {"scanDir", NULL, scan_dir, NULL, NULL, NULL, napi_default, NULL},
    {"scanDirAsync", NULL, scan_dir_async, NULL, NULL, NULL, napi_default, NULL},
    {"compatAbis", NULL, compat_abis, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
