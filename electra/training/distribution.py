"""One process, or many with Horovod: the same training loop talks to either through ``Distributor``."""
from __future__ import annotations

import tensorflow as tf


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

    def barrier(self) -> None:
        pass


class HorovodDistributor(Distributor):
    """Horovod: gradients averaged with allreduce (optionally fp16-compressed), rank 0's variables broadcast."""

    def __init__(self, fp16_compression: bool = False):
        try:
            import horovod.tensorflow as hvd
        except ImportError as e:
            raise RuntimeError(
                "--horovod was requested but horovod is not installed. Install the extra: HOROVOD_WITH_TENSORFLOW=1 "
                "HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 "
                "CMAKE_POLICY_VERSION_MINIMUM=3.5 pip install --no-build-isolation -e '.[horovod]'") from e
        hvd.init()
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

    def barrier(self) -> None:
        self.hvd.allreduce(tf.constant(0.0), name="barrier")


def make_distributor(horovod: bool, fp16_compression: bool = False) -> Distributor:
    return HorovodDistributor(fp16_compression) if horovod else Distributor()
