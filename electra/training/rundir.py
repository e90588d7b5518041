"""One run directory, one writer, seen by every rank.

``claim_run_directory`` is the first thing a training job does with its ``--output_dir``:

* rank 0 takes ``<output_dir>/run.lock`` (an exclusive ``flock``, with the holder's host, pid, start time and command
  line written inside) and holds it to the end of the run, whatever the end: done, bad input, failure, a stop
  signal, a full disk. A second job on the same directory gets a ``RunLockedError`` naming the holder and touches
  nothing. Releasing removes the file while the flock is still held, and a claimer whose flock succeeded checks that
  the path still names the file it locked (else it opens the path again), so two claimers never both hold it. The
  kernel drops the flock when its process dies, so the file a killed run leaves is taken over by the next one (and
  the takeover is logged). On file systems without ``flock`` the file's pid is checked instead: a dead process on
  this host is taken over, another host's lock is refused until it is removed.
* with several ranks, rank 0 writes a random token into the directory and every rank reads it back: a rank on a
  node whose ``--output_dir`` is node-local (not the directory rank 0 writes) stops the job with an error naming
  its host, instead of restarting at step 0 while rank 0 resumes.
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import sys
import time

from electra.io import atomic_write, storing
from electra.training.distribution import Distributor, LaunchError, hostname

log = logging.getLogger("electra.training")
LOCK_NAME = "run.lock"
TOKEN_NAME = ".rank_check"


class RunLockedError(RuntimeError):
    """Another live process holds the run directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict) -> str:
    started = holder.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return (f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, since {since}, command "
            f"{' '.join(holder.get('argv', [])) or '?'}")


class RunDirectoryLock:
    """The exclusive writer's lock on ``directory`` (see the module docstring)."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_NAME)
        self.fd: int | None = None

    def _read_holder(self, fd: int | None = None) -> dict:
        """The holder written in the lock file; {} when there is none (a lock file of an earlier version may say
        "released")."""
        try:
            if fd is not None:
                holder = json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
            else:
                with open(self.path, encoding="utf-8") as f:
                    holder = json.loads(f.read() or "{}")
        except (OSError, ValueError):
            return {}
        return {} if not isinstance(holder, dict) or "released" in holder else holder

    def _names(self, fd: int) -> bool:
        """Whether ``path`` is still the file open as ``fd`` (a releasing holder unlinks it)."""
        try:
            here, there = os.fstat(fd), os.stat(self.path)
        except FileNotFoundError:
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def acquire(self) -> "RunDirectoryLock":
        while True:
            with storing(self.path, "choose a writable --output_dir"):   # a read-only or full file system
                os.makedirs(self.directory, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if self._lock(fd):
                    self.fd = fd
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def _lock(self, fd: int) -> bool:
        """Lock ``fd`` and write the holder into it. False when the file was unlinked meanwhile (its holder
        released it between our open and our flock): the path must be opened again."""
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            flocked = True
        except BlockingIOError:
            raise RunLockedError(
                f"--output_dir={self.directory} is in use by a live run ({_describe(self._read_holder())}; lock "
                f"{self.path}). Wait for it to finish or stop it, or choose another --output_dir.") from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            flocked = False
        if flocked and not self._names(fd):
            return False
        previous = self._read_holder(fd)
        if not flocked:
            self._check_without_flock(previous)
        try:
            if previous.get("pid"):
                log.warning("took over the lock of a run that is no longer alive (%s)", _describe(previous))
            holder = {"host": hostname(), "pid": os.getpid(), "started": time.time(), "argv": sys.argv}
            with storing(self.path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
                os.fsync(fd)
        except BaseException:
            self._unlink(fd)
            raise
        return True

    def _check_without_flock(self, previous: dict) -> None:
        if not previous.get("pid"):
            return
        if previous.get("host") != hostname():
            raise RunLockedError(
                f"--output_dir={self.directory} is locked by a run on another host ({_describe(previous)}) and this "
                f"file system has no flock to tell whether it is alive: remove {self.path} if that run has ended.")
        if previous["pid"] != os.getpid() and _pid_alive(int(previous["pid"])):
            raise RunLockedError(f"--output_dir={self.directory} is in use by a live run ({_describe(previous)}; "
                                 f"lock {self.path}). Wait for it to finish or choose another --output_dir.")

    def _unlink(self, fd: int) -> None:
        """Remove the lock file while ``fd`` still holds its flock, so no other process can lock the old inode
        after it is gone (``_names`` makes a claimer that opened it before retry)."""
        try:
            if self._names(fd):
                os.unlink(self.path)
        except OSError as e:
            log.warning("could not remove the lock file %s (%s); the next run takes it over", self.path, e)

    def release(self) -> None:
        """Unlock the directory and remove ``run.lock``; nothing is written, so a full disk cannot stop it."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            self._unlink(fd)
        finally:
            os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def claim_run_directory(distributor: Distributor, directory: str) -> RunDirectoryLock | None:
    """Collective. Rank 0 locks ``directory``; with several ranks every rank must see what rank 0 writes there.
    Returns rank 0's lock (None on the other ranks); any failure raises on every rank before anything else is
    written."""
    lock, error = None, None
    if distributor.is_chief:
        try:
            lock = RunDirectoryLock(directory).acquire()
        except (RunLockedError, OSError) as e:
            error = e
    distributor.check_all(error, f"locking --output_dir={directory}")
    if distributor.size == 1:
        return lock
    token = secrets.randbelow(2 ** 62)
    path = os.path.join(directory, TOKEN_NAME)
    if distributor.is_chief:
        with atomic_write(path) as f:
            f.write(str(token))
    token = distributor.broadcast_int(token)
    try:
        with open(path, encoding="utf-8") as f:
            seen = f.read().strip()
    except OSError:
        seen = None
    error = None
    if seen != str(token):
        error = LaunchError(
            f"rank {distributor.rank} on host {hostname()} does not see the --output_dir={directory} that rank 0 "
            f"writes ({'no' if seen is None else 'another'} {TOKEN_NAME} there): every rank must reach the run "
            f"directory on a shared file system, or checkpoints and resume diverge between nodes.")
    try:
        distributor.check_all(error, "the shared run directory check")
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return lock


@contextlib.contextmanager
def exclusive_run_directory(distributor: Distributor, directory: str):
    """``claim_run_directory`` for the duration of a ``with`` block; rank 0's lock is released at its end."""
    lock = claim_run_directory(distributor, directory)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
