/*
 * kiln-fsx: the few Linux file system calls Node lacks and layers need: extended attributes (read and write
 * byte-exact, without following symlinks), mknod (device nodes, fifos, overlayfs whiteouts), and mount(2) /
 * umount2(2) for the overlay and bind mounts of every COPY and RUN step (a mount(8) + umount(8) pair of child
 * processes cost ~20 ms a step here; the calls take well under a millisecond).
 *
 * Why an addon and not `setfattr`/`mknod` child processes: a layer touches xattrs on every file it packs or
 * unpacks, and whiteouts are one mknod each; a spawned mknod(1) cost 3.6-24 ms here, 12-57x the addon's
 * call (bench/layer-bench.ts), and `setfattr` is not even installed by default (Debian's `attr`).
 * Plain C on Node-API (ABI-stable, no node-addon-api), built by scripts/setup.sh with `cc` in a second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <uv.h>

#define PATH_MAX_LEN 4096
#define NAME_MAX_LEN 256

/* Throws an Error shaped like Node's own system errors: code ('ENOENT'), errno, syscall, path. */
static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
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
  napi_throw(env, e);
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

/* mount(source, target, fstype, flags, data|null): mount(2) as is; flags are the MS_* bits. */
static napi_value mount_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char source[PATH_MAX_LEN], target[PATH_MAX_LEN], fstype[NAME_MAX_LEN], data[PATH_MAX_LEN + 1];
  uint32_t flags = 0;
  if (argc < 5 || get_string(env, argv[0], source, sizeof source) || get_string(env, argv[1], target, sizeof target) ||
      get_string(env, argv[2], fstype, sizeof fstype)) return NULL;
  napi_get_value_uint32(env, argv[3], &flags);
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  int has_data = t == napi_string;
  if (has_data && get_string(env, argv[4], data, sizeof data)) return NULL;
  if (mount(source, target, fstype, flags, has_data ? data : NULL) != 0) return throw_errno(env, errno, "mount", target);
  return NULL;
}

/* umount2(target, flags): flags as MNT_DETACH (2). */
static napi_value umount2_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char target[PATH_MAX_LEN];
  uint32_t flags = 0;
  if (argc < 2 || get_string(env, argv[0], target, sizeof target)) return NULL;
  napi_get_value_uint32(env, argv[1], &flags);
  if (umount2(target, (int)flags) != 0) return throw_errno(env, errno, "umount2", target);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"lgetxattrs", NULL, lgetxattrs, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, lsetxattr_js, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, mknod_js, NULL, NULL, NULL, napi_default, NULL},
    {"devsplit", NULL, devsplit, NULL, NULL, NULL, napi_default, NULL},
    {"mount", NULL, mount_js, NULL, NULL, NULL, napi_default, NULL},
    {"umount2", NULL, umount2_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
