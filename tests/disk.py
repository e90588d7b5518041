"""Small file systems for the full-disk and read-only tests and the fault drill: a tmpfs mounted for a block
(mounting needs root, as on CI; elsewhere ``unavailable(reason)`` is called: ``pytest.skip`` in tests)."""
import contextlib
import os
import subprocess


@contextlib.contextmanager
def tmpfs(path, size="16m", unavailable=None):
    """A tmpfs of ``size`` mounted at ``path`` for the block, unmounted after it."""
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}"
        if unavailable is None:
            import pytest
            unavailable = pytest.skip
        unavailable(reason)
        raise RuntimeError(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def read_only(path):
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def fill(path, leave=16 << 10) -> str:
    """Occupy all but ``leave`` bytes of the file system holding ``path``; returns the filler file."""
    info = os.statvfs(path)
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, info.f_bavail * info.f_frsize - leave))
    return filler
