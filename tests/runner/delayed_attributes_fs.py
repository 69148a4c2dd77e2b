"""A FUSE passthrough that serves file attributes (mtime, size) from a cache for DELAY seconds,
as an NFS client does within `acregmax`: a stand-in for a shared NFS cache where none can be mounted.

    python tests/runner/delayed_attributes_fs.py SOURCE MOUNTPOINT --delay 3     # foreground; Ctrl-C or
    fusermount3 -u MOUNTPOINT                                                # unmount it

One mount is one NFS client: mount SOURCE once per node. Changes made through a mount are seen
at once through it (its own cache entries are dropped); changes made through another mount or
directly in SOURCE show in `stat` only when the cached attributes expire, or when the file is
opened (an `open` on NFS revalidates the file: close-to-open); contents are read from SOURCE
after each open, and a missing file is never cached (as with the mount option
`lookupcache=positive`). Needs libfuse 3 (Debian: fuse3) and
`pip install mfusepy`.
"""

from __future__ import annotations

import argparse
import errno
import os
import threading
import time

import mfusepy as fuse

_UTIME_NOW, _UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2  # utimensat's special nanoseconds ("touch")
_STAT_FIELDS = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid",
                "st_ino", "st_blocks")


class DelayedAttributes(fuse.Operations):
    """Passthrough of SOURCE whose `getattr` answers repeat for `delay` seconds per path."""

    use_ns = True

    def __init__(self, source: str, delay: float):
        self.source, self.delay = os.path.realpath(source), delay
        self._attrs: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def _real(self, path: str) -> str:
        return os.path.join(self.source, path.lstrip("/"))

    def _forget(self, *paths: str) -> None:  # a change made through this mount is seen by this mount
        with self._lock:
            for path in paths:
                self._attrs.pop(path, None)

    def getattr(self, path, fh=None):
        now = time.monotonic()
        with self._lock:
            cached = self._attrs.get(path)
            if cached is not None and now - cached[0] < self.delay:
                return cached[1]
        try:
            st = os.lstat(self._real(path))
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None
        attrs = {name: getattr(st, name + "_ns" if name.endswith("time") else name) for name in _STAT_FIELDS}
        with self._lock:
            self._attrs[path] = (now, attrs)
        return attrs

    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self._real(path))]

    def access(self, path, amode):
        if not os.access(self._real(path), amode):
            raise fuse.FuseOSError(errno.EACCES)

    def open(self, path, flags):
        self._forget(path)  # an NFS open revalidates the file's attributes (close-to-open)
        return os.open(self._real(path), flags)

    def create(self, path, mode, fi=None):
        self._forget(path)
        return os.open(self._real(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._forget(path)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        self._forget(path)
        os.truncate(self._real(path), length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        os.fsync(fh)
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0

    def unlink(self, path):
        self._forget(path)
        os.unlink(self._real(path))

    def rmdir(self, path):
        self._forget(path)
        os.rmdir(self._real(path))

    def mkdir(self, path, mode):
        self._forget(path)
        os.mkdir(self._real(path), mode)

    def rename(self, old, new):
        self._forget(old, new)
        os.rename(self._real(old), self._real(new))

    def link(self, target, source):
        self._forget(target)
        os.link(self._real(source), self._real(target))

    def symlink(self, target, source):
        os.symlink(source, self._real(target))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        self._forget(path)
        special = times and any(t in (_UTIME_NOW, _UTIME_OMIT) or t % 10**9 in (_UTIME_NOW, _UTIME_OMIT) for t in times)
        if not times or special:
            os.utime(self._real(path))
        else:
            os.utime(self._real(path), ns=tuple(times))

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        return {name: getattr(st, name) for name in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                                      "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--delay", type=float, default=3.0, help="seconds a file's attributes are served from cache")
    args = parser.parse_args()
    # no kernel attribute cache: every stat reaches this process, which decides; file contents go
    # through the page cache, which FUSE drops at each open (close-to-open, as NFS; mmap works)
    fuse.FUSE(DelayedAttributes(args.source, args.delay), args.mountpoint, foreground=True, nothreads=False,
              allow_other=True, attr_timeout=0, entry_timeout=0, negative_timeout=0)


if __name__ == "__main__":
    main()
