/* SPDX-License-Identifier: MIT */
/*
 * Durable file primitives: whole reads and writes that survive EINTR and
 * short transfers, atomic replacement of small files (temporary file, write, fsync,
 * rename, fsync the directory) and bounded reads. Every name is a single
 * path component resolved relative to a directory fd and never through a
 * symlink, so state directories cannot be redirected by a planted link.
 *
 * Directory fds passed here must be opened O_RDONLY|O_DIRECTORY (not
 * O_PATH: fsync() needs a readable fd). AT_FDCWD is accepted.
 */
#pragma once

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/* Largest value an off_t holds (32 bits on 32-bit targets without _FILE_OFFSET_BITS=64). */
#define UMC_FS_OFF_MAX ((off_t)((UINT64_C(1) << (sizeof(off_t) * 8 - 1)) - 1))

/*
 * Write all len bytes to fd at its current position, retrying on EINTR and
 * short writes. Returns 0, -EINVAL on bad arguments, -EIO if the kernel
 * accepts no bytes, or the negative errno of write(2). On failure some
 * bytes may have been written.
 */
int umc_fs_write_all(int fd, const void *buf, size_t len);

/*
 * As umc_fs_write_all() but with pwrite(2) at off, leaving the file position
 * alone. -EINVAL when off is negative, -EFBIG when off + len does not fit
 * an off_t.
 */
int umc_fs_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/*
 * Read from fd at its current position until len bytes are in buf or the
 * file ends, retrying on EINTR and short reads. *ret_len gets the count
 * (less than len only at end of file). Returns 0, -EINVAL on bad
 * arguments, or the negative errno of read(2).
 */
int umc_fs_read_all(int fd, void *buf, size_t len, size_t *ret_len);

/*
 * Read exactly len bytes at off with pread(2), leaving the file position
 * alone. Returns 0, -EIO when the file ends first (it is shorter than the
 * caller knows it to be), -EINVAL, -EFBIG as umc_fs_pwrite_all(), or the
 * negative errno of pread(2). On failure buf may hold some bytes.
 */
int umc_fs_pread_exact(int fd, void *buf, size_t len, off_t off);

/* fsync(2) a directory, making entries created, renamed or removed in it durable. */
int umc_fs_fsync_dir(int dirfd);

/*
 * Create path and its missing parents with mode (umask applies), like
 * `mkdir -p`. Existing directories are accepted (symlinks to directories
 * too: the path is configuration, not data). -EINVAL for an empty path,
 * -ENOTDIR when a component exists and is not a directory, -ENOMEM.
 */
int umc_fs_mkdir_p(const char *path, mode_t mode);

/*
 * Atomically replace dirfd/name with len bytes of data: write a temporary
 * ".name.XXXXXX" (O_EXCL, O_NOFOLLOW, random suffix) in the same directory,
 * fsync it, renameat() it over name, fsync the directory. Readers see the
 * old content or the new, never a mix; after a crash, the same. A symlink
 * at name is replaced, never followed. On failure the temporary file is
 * removed and name is untouched, except when the final directory fsync
 * fails: then the new content is in place but may not be durable.
 * mode is for a new file (umask applies). Returns 0, -EINVAL for a name
 * that is not one path component or too long for the temporary name, or
 * the negative errno of the failing call (e.g. -EISDIR when name is a
 * directory).
 */
int umc_fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/*
 * Read the regular file dirfd/name (one path component, not followed if a
 * symlink: -ELOOP) into a new NUL-terminated buffer. *ret is owned by the
 * caller (free()); *ret_len (may be NULL) excludes the NUL. Returns 0,
 * -EFBIG when the file holds more than max bytes, -EISDIR / -EBADFD when it
 * is a directory / not a regular file, -EINVAL, -ENOMEM, or the negative
 * errno of open/read. Outputs are written only on success.
 */
int umc_fs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);

/*
 * Remove the regular files umc_fs_write_atomic(dirfd, name, ...) may have
 * left behind when killed between creating its temporary file and the
 * rename (".name." plus a 6-character suffix). Call it at startup, before
 * anyone writes name. Returns 0, -EINVAL, or the first negative errno.
 */
int umc_fs_remove_temp_files(int dirfd, const char *name);
