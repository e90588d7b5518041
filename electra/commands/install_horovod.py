"""Build Horovod 0.28.1 against the installed TensorFlow from its PyPI sdist, with the project's patch, and install it.

Horovod's last release (0.28.1, 2023) does not compile against TensorFlow >= 2.19: its XLA plugin
(``horovod/tensorflow/xla_mpi_ops.cc``) includes XLA's builder header from where it used to be, spells ``StatusOr``
the old way, and the TF wheel's ``highwayhash``/``farmhash`` headers are not on the include path TensorFlow reports.
``patches/horovod-0.28.1-tf2.19.patch`` fixes exactly that, guarded by TensorFlow's version (a no-op before 2.19).
Drop this module once a Horovod release builds against the project's TensorFlow: install that release instead.

Steps, each checked: download the sdist with pip (its SHA-256 must be PyPI's), apply the patch, build a wheel with
the CPU/Gloo flags (``HOROVOD_GPU_OPERATIONS=NCCL`` in the environment adds NCCL, as the Dockerfile does), keep the
wheel in a cache keyed by Horovod, TensorFlow, Python, the GPU operations and the patch, install it, and require
``horovodrun --check-build`` to list TensorFlow and Gloo. A second run with the same key installs the cached wheel.

    electra-install-horovod                      # or: python -m electra.commands.install_horovod
    electra-install-horovod --cache_dir /shared/wheels --force
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from electra.commands.entry import Command
from electra.configs import knob

VERSION = "0.28.1"
SDIST_SHA256 = "92a43f5a94c43907a56805bad15f19700c62ffc83b7ca483f9e104e229f67ef0"   # PyPI's horovod-0.28.1.tar.gz
PATCH = "horovod-0.28.1-tf2.19.patch"
BUILD_FLAGS = {"HOROVOD_WITH_TENSORFLOW": "1", "HOROVOD_WITH_GLOO": "1", "HOROVOD_WITHOUT_MPI": "1",
               "HOROVOD_WITHOUT_PYTORCH": "1", "HOROVOD_WITHOUT_MXNET": "1", "CMAKE_POLICY_VERSION_MINIMUM": "3.5"}
HOROVODRUN = "from horovod.runner.launch import run_commandline; run_commandline()"
REQUIRED = ("TensorFlow", "Gloo")   # what ``horovodrun --check-build`` must tick; NCCL too when asked for


class BuildError(RuntimeError):
    """A step of the build failed; the message names the step and what to do."""


def patch_text() -> bytes:
    return importlib.resources.files("electra.patches").joinpath(PATCH).read_bytes()


def tensorflow_version(python: str) -> str:
    out = _run([python, "-c", "import tensorflow as tf; print(tf.__version__)"], "importing TensorFlow",
               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return out.strip().splitlines()[-1]


def cache_key(tf_version: str, gpu_operations: str | None, python_tag: str, patch: bytes) -> str:
    """The folder name of a built wheel: everything the compiled extension depends on."""
    ops = (gpu_operations or "cpu").lower()
    return f"horovod-{VERSION}_tf-{tf_version}_{python_tag}_{ops}_patch-{hashlib.sha256(patch).hexdigest()[:12]}"


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "electra", "wheels")


def installed_build(python: str) -> dict | None:
    """``{"version", "tensorflow"}`` of the Horovod importable by ``python`` (from its ``metadata.json``), or None."""
    code = ("import importlib.util, json, os, sys\n"
            "spec = importlib.util.find_spec('horovod')\n"
            "if spec is None: sys.exit(1)\n"
            "import horovod\n"
            "meta = os.path.join(os.path.dirname(horovod.__file__), 'metadata.json')\n"
            "built = json.load(open(meta)) if os.path.exists(meta) else {}\n"
            "print(json.dumps({'version': horovod.__version__, 'tensorflow': built.get('tensorflow')}))")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def missing_from_build(check_build_text: str, gpu_operations: str | None) -> list[str]:
    """What ``horovodrun --check-build`` does not tick of TensorFlow, Gloo (and NCCL when asked for)."""
    ticked = set(re.findall(r"\[X\]\s+(\S+)", check_build_text))
    return [name for name in REQUIRED + ((gpu_operations,) if gpu_operations else ()) if name not in ticked]


def check_build(python: str, gpu_operations: str | None) -> str:
    """``horovodrun --check-build`` run as the function the ``horovodrun`` script calls, so that it is found
    wherever pip put the script (``/usr/local/bin`` for a system Python)."""
    text = _run([python, "-c", HOROVODRUN, "--check-build"], "horovodrun --check-build")
    missing = missing_from_build(text, gpu_operations)
    if missing:
        raise BuildError(f"horovodrun --check-build does not list {', '.join(missing)}:\n{text}")
    return text


def build_wheel(python: str, patch: bytes, work: str, gpu_operations: str | None, log) -> str:
    """Download, verify, patch and build; returns the wheel's path under ``work``."""
    _run([python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", f"horovod=={VERSION}", "-d", work],
         f"downloading the horovod {VERSION} sdist from PyPI")
    sdist = os.path.join(work, f"horovod-{VERSION}.tar.gz")
    from electra.io import file_sha256
    digest = file_sha256(sdist)
    if digest != SDIST_SHA256:
        raise BuildError(f"{sdist}: SHA-256 {digest} is not PyPI's {SDIST_SHA256} for horovod {VERSION}")
    with tarfile.open(sdist) as archive:
        archive.extractall(work, filter="data")
    source = os.path.join(work, f"horovod-{VERSION}")
    if shutil.which("patch") is None:
        raise BuildError("the `patch` program is needed to apply the project's Horovod patch "
                         "(Debian/Ubuntu: apt-get install patch)")
    patch_file = os.path.join(work, PATCH)
    with open(patch_file, "wb") as f:
        f.write(patch)
    _run(["patch", "-p1", "--forward", "--batch", "-i", patch_file], f"applying {PATCH}", cwd=source)
    env = {**os.environ, **BUILD_FLAGS}
    if gpu_operations:
        env["HOROVOD_GPU_OPERATIONS"] = gpu_operations
    log(f"building horovod {VERSION} (flags: {' '.join(f'{k}={v}' for k, v in sorted(BUILD_FLAGS.items()))}"
        f"{f' HOROVOD_GPU_OPERATIONS={gpu_operations}' if gpu_operations else ''}); this takes minutes")
    wheels = os.path.join(work, "wheels")
    _run([python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, source],
         "building the horovod wheel", env=env)
    built = [name for name in os.listdir(wheels) if name.endswith(".whl")]
    if len(built) != 1:
        raise BuildError(f"pip wheel left {built} in {wheels}, expected one horovod wheel")
    return os.path.join(wheels, built[0])


def install(python: str = sys.executable, cache_dir: str | None = None, force: bool = False,
            gpu_operations: str | None = None, log=print) -> dict:
    """Make ``python``'s environment hold a Horovod built against its TensorFlow; returns what was done."""
    started = time.monotonic()
    patch = patch_text()
    tf_version = tensorflow_version(python)
    python_tag = "cp" + _run([python, "-c", "import sys; print(f'{sys.version_info[0]}{sys.version_info[1]}')"],
                             "asking the Python version").strip()
    key = cache_key(tf_version, gpu_operations, python_tag, patch)
    folder = os.path.join(cache_dir or default_cache_dir(), key)
    current = installed_build(python)
    if not force and current == {"version": VERSION, "tensorflow": tf_version}:
        try:
            check_build(python, gpu_operations)
            return {"action": "already installed", "key": key, "seconds": round(time.monotonic() - started, 1)}
        except BuildError as e:
            log(f"the installed horovod does not fit, installing again: {e}")
    cached = [n for n in os.listdir(folder) if n.endswith(".whl")] if os.path.isdir(folder) else []
    action = "installed the cached wheel"
    if force or not cached:
        with tempfile.TemporaryDirectory(prefix="horovod-build-") as work:
            wheel = build_wheel(python, patch, work, gpu_operations, log)
            os.makedirs(folder, exist_ok=True)
            partial = os.path.join(folder, f".{os.path.basename(wheel)}.partial")
            shutil.copyfile(wheel, partial)
            os.replace(partial, os.path.join(folder, os.path.basename(wheel)))
            cached = [os.path.basename(wheel)]
        action = "built and installed"
    wheel = os.path.join(folder, cached[0])
    _run([python, "-m", "pip", "install", "--no-deps", "--force-reinstall", wheel], f"installing {wheel}")
    _run([python, "-m", "pip", "install", wheel], f"installing the dependencies of {wheel}")  # psutil, cloudpickle, ...
    log(check_build(python, gpu_operations).strip())
    return {"action": action, "key": key, "wheel": wheel, "seconds": round(time.monotonic() - started, 1)}


def _run(cmd: list[str], step: str, **kwargs) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
        raise BuildError(f"{step} failed (exit {result.returncode}: {' '.join(cmd)}):\n{tail}")
    return result.stdout


@dataclasses.dataclass(frozen=True)
class InstallConfig:
    cache_dir: str | None = knob(None, "Where built wheels are kept (default: $ELECTRA_WHEEL_CACHE, else "
                                       "~/.cache/electra/wheels).")
    force: bool = knob(False, "Build again even when a cached wheel fits.")
    gpu_operations: str | None = knob(None, "NCCL: GPU allreduce (needs CUDA and NCCL headers); default "
                                            "$HOROVOD_GPU_OPERATIONS, else CPU/Gloo only.", choices=("NCCL",))


def _install(config: InstallConfig) -> dict:
    return install(sys.executable, config.cache_dir or os.environ.get("ELECTRA_WHEEL_CACHE"), config.force,
                   config.gpu_operations or os.environ.get("HOROVOD_GPU_OPERATIONS"),
                   log=lambda m: print(m, file=sys.stderr))


COMMAND = Command("electra-install-horovod", InstallConfig, _install, __doc__, tensorflow=False)
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())
