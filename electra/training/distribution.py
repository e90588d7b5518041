"""One process, or many with Horovod: the same training loop talks to either through ``Distributor``.

A process started by ``horovodrun``, ``mpirun``, a PMI launcher or ``srun`` with several tasks runs distributed by
itself (``--runtime.horovod`` is only needed to force it): the card's ``horovodrun -np 8 python run_pretraining.py ...``
must not turn into eight independent trainings that write one directory. Everything that can be wrong with a
launch is found before anything is written.
"""
from __future__ import annotations

import dataclasses
import os
import socket
from typing import Mapping

import numpy as np
import tensorflow as tf

HOROVOD_INSTALL = ("electra-install-horovod (builds the project's patched Horovod 0.28.1 against this TensorFlow; "
                   "HOROVOD_GPU_OPERATIONS=NCCL for GPUs)")

# (size variable, rank variable, launcher) in the order they are trusted. SLURM's step variables exist only
# inside an ``srun`` step; SLURM_NTASKS alone is also set for the single process of a batch script.
LAUNCHERS = (
    ("HOROVOD_SIZE", "HOROVOD_RANK", "horovodrun"),
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "Open MPI (mpirun)"),
    ("PMI_SIZE", "PMI_RANK", "a PMI launcher (MPICH / Intel MPI mpirun)"),
    ("PMIX_SIZE", "PMIX_RANK", "a PMIx launcher"),
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM srun"),
)


class LaunchError(RuntimeError):
    """The processes of a run cannot work together as launched; nothing has been written."""


@dataclasses.dataclass(frozen=True)
class Launch:
    size: int
    rank: int
    launcher: str

    def describe(self) -> str:
        return f"process {self.rank} of {self.size} started by {self.launcher}"


def detect_launch(env: Mapping[str, str] | None = None) -> Launch | None:
    """The multi-process launcher this process was started by, from its environment; None for a plain start."""
    env = os.environ if env is None else env
    for size_key, rank_key, launcher in LAUNCHERS:
        size = env.get(size_key, "").strip()
        if size.isdigit() and int(size) > 1:
            rank = env.get(rank_key, "0").strip()
            return Launch(int(size), int(rank) if rank.isdigit() else 0, launcher)
    return None


class Distributor:
    """Single process: rank 0 of 1; every collective is the identity."""

    rank, size, local_rank = 0, 1, 0

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def allreduce_gradients(self, grads: list[tf.Tensor]) -> list[tf.Tensor]:
        return grads

    def allreduce_mean(self, value: tf.Tensor) -> tf.Tensor:
        return value

    def broadcast_variables(self, variables) -> None:
        pass

    def broadcast_int(self, value: int) -> int:
        """Rank 0's ``value`` on every rank."""
        return int(value)

    def gather_flags(self, flag: bool) -> list[bool]:
        """Every rank's ``flag``, indexed by rank."""
        return [bool(flag)]

    def barrier(self) -> None:
        pass

    def check_all(self, error: Exception | None, what: str) -> None:
        """Collective: when any rank has an ``error``, every rank raises — its own error, or a ``LaunchError``
        naming the ranks that failed — so no rank goes on alone into a collective that never completes."""
        failed = [r for r, ok in enumerate(self.gather_flags(error is None)) if not ok]
        if error is not None:
            raise error
        if failed:
            raise LaunchError(f"{what} failed on rank(s) {failed} (see their errors); rank {self.rank} stops too")


class HorovodDistributor(Distributor):
    """Horovod: gradients averaged with allreduce (optionally fp16-compressed), rank 0's variables broadcast."""

    def __init__(self, fp16_compression: bool = False, launch: Launch | None = None):
        try:
            import horovod.tensorflow as hvd
        except ImportError as e:
            started = f"This is {launch.describe()}, which needs Horovod. " if launch else ""
            raise LaunchError(f"{started}Horovod is not installed (import failed: {e}). Install it with "
                              f"{HOROVOD_INSTALL}") from e
        hvd.init()
        if launch is not None and hvd.size() != launch.size:
            raise LaunchError(
                f"this is {launch.describe()}, but Horovod sees {hvd.size()} process(es): this Horovod build "
                f"cannot join that launcher (a Gloo-only build under mpirun, for instance). Launch with "
                f"`horovodrun -np {launch.size} --gloo ...`, or rebuild Horovod with HOROVOD_WITH_MPI=1.")
        self.hvd = hvd
        self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        self.compression = hvd.Compression.fp16 if fp16_compression else hvd.Compression.none
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            tf.config.set_visible_devices(gpus[self.local_rank % len(gpus)], "GPU")
            tf.config.experimental.set_memory_growth(gpus[self.local_rank % len(gpus)], True)

    def allreduce_gradients(self, grads):
        return [self.hvd.allreduce(g, op=self.hvd.Average, compression=self.compression) for g in grads]

    def allreduce_mean(self, value):
        return self.hvd.allreduce(value, op=self.hvd.Average)

    def broadcast_variables(self, variables) -> None:
        self.hvd.broadcast_variables([getattr(v, "value", v) for v in variables], root_rank=0)

    def broadcast_int(self, value: int) -> int:
        return int(self.hvd.broadcast(tf.constant(int(value), tf.int64), root_rank=0, name="broadcast_int"))

    def gather_flags(self, flag: bool) -> list[bool]:
        flags = self.hvd.allgather(tf.constant([int(bool(flag))], tf.int32), name="gather_flags")
        return [bool(f) for f in np.asarray(flags)]

    def barrier(self) -> None:
        self.hvd.allreduce(tf.constant(0.0), name="barrier")


def make_distributor(horovod: bool | None = None, fp16_compression: bool = False) -> Distributor:
    """``horovod=None``: distributed exactly when a multi-process launcher started this process; ``True`` forces
    Horovod (also for one process); ``False`` under a multi-process launcher is refused, since every process would
    then train alone into the same directory."""
    launch = detect_launch()
    if horovod is None:
        horovod = launch is not None
    elif not horovod and launch is not None:
        raise LaunchError(f"this is {launch.describe()}, but --runtime.horovod=false: every process would train "
                          f"alone and write the same output directory. Drop --runtime.horovod=false, or start one "
                          f"process.")
    return HorovodDistributor(fp16_compression, launch) if horovod else Distributor()


def hostname() -> str:
    return socket.gethostname()
