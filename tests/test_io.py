"""``electra.io``: one atomic writer for files and directories; results readable by other users (umask modes)."""
import os
import stat

import pytest

from electra.io import (atomic_directory, atomic_path, atomic_write, is_temporary, remove_temporaries, write_json,
                        write_text)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_directories_get_the_umask_modes(umask_022, tmp_path):
    """mkstemp/mkdtemp would give 0600/0700: a server running as another user could not read a model."""
    write_text(str(tmp_path / "a.txt"), "a")
    write_json(str(tmp_path / "b.json"), {"b": 1})
    with atomic_write(str(tmp_path / "c.bin"), "wb") as f:
        f.write(b"c")
    with atomic_path(str(tmp_path / "d.bin")) as name:       # a writer that takes a file name
        with open(name, "wb") as f:
            f.write(b"d")
    with atomic_directory(str(tmp_path / "model")) as staging:
        write_text(os.path.join(staging, "weights"), "w")
    for name in ("a.txt", "b.json", "c.bin", "d.bin", "model/weights"):
        assert mode(tmp_path / name) == 0o644, name
    assert mode(tmp_path / "model") == 0o755


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = str(tmp_path / "x.txt")
    write_text(target, "old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_write(target) as f:
            f.write("half")
            raise OSError("disk full")
    assert open(target).read() == "old" and os.listdir(tmp_path) == ["x.txt"]


def test_a_directory_replaces_the_previous_one_only_when_complete(tmp_path):
    target = str(tmp_path / "model")
    with atomic_directory(target) as staging:
        write_text(os.path.join(staging, "first"), "1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            write_text(os.path.join(staging, "second"), "2")
            raise RuntimeError("killed")
    assert os.listdir(target) == ["first"]
    with atomic_directory(target) as staging:
        write_text(os.path.join(staging, "second"), "2")
    assert os.listdir(target) == ["second"] and os.listdir(tmp_path) == ["model"]


def test_leftovers_of_killed_writers_are_recognized(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(tmp_path / "shard-1.tfrecord")) as name:
            open(name, "w").close()
            leftover = os.path.basename(name)
            raise KeyboardInterrupt
    assert not os.path.exists(tmp_path / leftover)       # cleaned on the way out
    open(tmp_path / leftover, "w").close()                # a SIGKILL leaves it
    open(tmp_path / "shard-2.tfrecord", "w").close()
    assert is_temporary(leftover) and remove_temporaries(str(tmp_path), "shard-") == [leftover]
    assert os.listdir(tmp_path) == ["shard-2.tfrecord"]
