"""GPU JPEG decode (`data.decoder=dali`): NVIDIA DALI decodes the store's JPEG records with nvJPEG on the
device (its "mixed" backend: entropy decoding on the host or the GPU's JPEG engines, the rest on the GPU) and
hands uint8 batches to the same device presets as the CPU loader.

DALI reads no files itself: the store's shards stay as they are. Which images make a batch, DDP's sharding,
the exact epoch length and the resume position after a mid-epoch restart all come from the CPU loader's own
sampler (datamodule.EpochBatchSampler); each batch's encoded bytes are fed to the pipeline's external source.
Both decoders therefore train on the same images in the same order, and only the decoding differs.
Tests run the same pipeline with DALI's CPU decoder (`device="cpu"`), the only one a machine without a GPU has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from alexnet_repro.data.samplers import ResumesMidEpoch
from alexnet_repro.data.store import STORE_SIZE, ShardReader

INSTALL = "pip install -e '.[dali]' (NVIDIA DALI for CUDA 13)"


class DecoderUnavailable(ValueError):
    """data.decoder=dali cannot run here: one line that says what to install or change (a ValueError, so the
    stages print it as a user error and exit 2)."""


def check_dali(on_cuda: bool, encoding: str, image_size: int) -> None:
    """Everything data.decoder=dali needs, checked before training starts: never a silent CPU fallback."""
    try:
        import nvidia.dali  # noqa: F401
    except ImportError:
        raise DecoderUnavailable(f"data.decoder=dali needs NVIDIA DALI, which is not installed: {INSTALL}, "
                                 "or use data.decoder=cpu") from None
    if not on_cuda or not torch.cuda.is_available():
        raise DecoderUnavailable("data.decoder=dali decodes on a CUDA GPU and this run has none (trainer="
                                 f"{'gpu' if on_cuda else 'cpu'}, CUDA available: {torch.cuda.is_available()}): "
                                 "use trainer=gpu on a GPU machine, or data.decoder=cpu")
    if encoding != "jpeg":
        raise DecoderUnavailable(f"data.decoder=dali decodes JPEG stores and this store is {encoding!r}: "
                                 "use data.decoder=cpu, or resize with data.resize.encoding=jpeg")
    if image_size != STORE_SIZE:
        raise DecoderUnavailable(f"data.decoder=dali decodes at the store's {STORE_SIZE} px; data.image_size="
                                 f"{image_size} needs data.decoder=cpu (its DCT-scaled decode)")


class DaliLoader(ResumesMidEpoch):
    """An iterable of (uint8 images (B, 3, S, S) with channels last in memory, int64 labels), on `device`.

    batch_sampler: an EpochBatchSampler (Lightning calls its set_epoch); resume_position: the number of
    batches already trained on in this epoch, asked for once after load_state_dict, as ResumableLoader does.
    decoder_device: "mixed" (nvJPEG on the GPU) in training, "cpu" in tests. indices: the reader's records the
    sampler's positions stand for (all when None; training passes the training split less minival).
    """

    def __init__(self, reader: ShardReader, batch_sampler, *, decoder_device: str = "mixed",
                 device: torch.device | None = None, threads: int = 4,
                 resume_position: Callable[[], int] | None = None, indices=None):
        from nvidia.dali import fn, pipeline_def, types

        self.reader, self.batch_sampler, self.decoder_device = reader, batch_sampler, decoder_device
        self.records = np.arange(len(reader)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.device = device or torch.device("cpu")
        self._resume_position = resume_position
        on_gpu = decoder_device != "cpu"
        device_id = (self.device.index or 0) if on_gpu else None  # None: DALI's CPU-only mode

        # DALI's default (dynamic, asynchronous) executor; one batch in flight: __iter__ schedules batch k+1
        # before handing out batch k, so k+1 decodes while the device trains on k.
        @pipeline_def(batch_size=batch_sampler.batch_size, num_threads=threads, device_id=device_id,
                      prefetch_queue_depth=1)
        def decode():
            encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1)
            return fn.decoders.image(encoded, device=decoder_device, output_type=types.RGB)

        self.pipe = decode()
        self.pipe.build()
        self._in_flight = 0  # batches scheduled and not yet taken out: an abandoned epoch leaves some

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def _schedule(self, indices: list[int] | None) -> None:
        if indices is not None:
            self.pipe.feed_input("encoded", [np.asarray(self.reader.raw_bytes(i)) for i in indices])
            self.pipe.schedule_run()
            self._in_flight += 1

    def _take(self, stream) -> object:
        self._in_flight -= 1
        return self.pipe.outputs(cuda_stream=stream)[0]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from nvidia.dali.plugin.pytorch import feed_ndarray

        side = self.reader.info.image_size
        stream = torch.cuda.current_stream(self.device) if self.device.type == "cuda" else None
        while self._in_flight:  # left by an epoch that stopped early (a limit, an error): not this epoch's
            self._take(stream)
        batches = (self.records[positions].tolist() for positions in self.batch_sampler)
        indices = next(batches, None)
        self._schedule(indices)
        while indices is not None:
            decoded = self._take(stream)  # on torch's stream: no host sync on a GPU
            images = torch.empty((len(indices), side, side, 3), dtype=torch.uint8, device=self.device)
            feed_ndarray(decoded.as_tensor(), images, cuda_stream=stream)
            labels = torch.as_tensor(self.reader.labels[indices])
            indices = next(batches, None)
            self._schedule(indices)  # the next batch decodes while this one trains
            yield images.permute(0, 3, 1, 2), labels
