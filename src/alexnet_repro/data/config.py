"""The schema of the `data` group (conf/data/*.yaml) and of the three data stages' root config (conf/prepare.yaml):
src/download.py, src/resize.py and src/pca.py read it, and training and evaluation read its loader settings.

The library functions under data/ take plain values or one of these sub-configs, never the whole application
config, so a data stage depends on nothing of the model, the training or the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from alexnet_repro.basics import ConfigError, choice, in_range
from alexnet_repro.data.store import DECODE_SIZES
from alexnet_repro.schema import PathsConfig, register


@dataclass
class SourceConfig:
    kind: str = MISSING  # embedded | ilsvrc (2012) | ilsvrc2010 | imagefolder | imagenette | cifar10 | cifar10_embedded
    location: str = MISSING  # folder or URL prefix of the archives, or the ImageFolder root
    verify_md5: bool = MISSING
    # kind=embedded: data/generate.py's GeneratedSpec fields; kind=cifar10_embedded: data/generate_cifar10.py's
    # CifarSpec fields (checked by the download stage, which alone reads them: training depends on the store
    # the generator made, not on the generator's code).
    generated: Any = field(default_factory=dict)
    download_dir: str = "${paths.data}/archives/${data.name}"  # where archives given by URL are saved
    # {archive name: md5}: a private mirror's checksums, over the published; CIFAR-10's pickles by name too
    md5: Any = field(default_factory=dict)

    def __post_init__(self) -> None:
        choice("data.source.kind", self.kind, ("embedded", "ilsvrc", "ilsvrc2010", "imagefolder", "imagenette",
                                               "cifar10", "cifar10_embedded"))
        if self.kind == "ilsvrc2010" and self.verify_md5 is True:  # we know of no published md5s for 2010's files
            raise ConfigError("data.source.verify_md5=true is impossible for ilsvrc2010: we know of no published md5s "
                              "for its archives; set it to false (each tar is still checked to read whole)")
        if not isinstance(self.generated, dict):
            raise ConfigError(f"data.source.generated={self.generated!r} must be a mapping of GeneratedSpec fields")


@dataclass
class ResizeConfig:
    encoding: str = MISSING  # jpeg | raw
    quality: int = MISSING
    shard_size: int = MISSING
    workers: int = MISSING
    skip_bad: bool = MISSING

    def __post_init__(self) -> None:
        choice("data.resize.encoding", self.encoding, ("jpeg", "raw"))
        in_range("data.resize.quality", self.quality, 1, 100)
        in_range("data.resize.shard_size", self.shard_size, 1)
        in_range("data.resize.workers", self.workers, 1)


@dataclass
class PCAConfig:
    max_images: Optional[int] = MISSING
    seed: int = MISSING
    workers: int = MISSING

    def __post_init__(self) -> None:
        in_range("data.pca.workers", self.workers, 1)


@dataclass
class DataConfig:
    name: str = MISSING
    source: SourceConfig = MISSING
    raw_dir: str = "${paths.data}/raw/${data.name}"
    resize: ResizeConfig = MISSING
    pca: PCAConfig = MISSING
    store_dir: str = "${paths.data}/resized/${data.name}"
    stats_path: str = "${paths.data}/stats/${data.name}/pca_stats.json"
    batch_size: int = MISSING  # global; each of N devices takes batch_size / N (section 5)
    workers: Any = MISSING  # loader processes per device, or "auto": the node's cores shared by its devices
    decoder: str = "cpu"  # cpu (simplejpeg in the loader's workers) | dali (nvJPEG on the GPU: the dali extra)
    # The side the loader decodes the store's 256x256 images at: 256 (the paper), or 128/64/32, which the JPEG
    # decoder produces at a fraction of the cost (DCT scaling) for a profile that scales the whole input down.
    image_size: int = 256
    in_memory: bool = False  # decode each split once and keep it in RAM: for small sets (the embedded one)
    # Training images per class held out as `minival`: what best.ckpt and the lr schedule are chosen on, so
    # that the validation images are scored once, by evaluate (data/minival.py).
    minival_per_class: int = MISSING
    # The shuffled_labels control (Figure 3): training labels permuted once over the images, the same for every
    # seed, so a net can only memorise; the validation labels stay true.
    shuffle_labels: bool = False
    # The split evaluate scores: val, or test where the source labels one (ILSVRC-2010, Table 1's data).
    eval_split: str = "val"

    def __post_init__(self) -> None:
        in_range("data.batch_size", self.batch_size, 1)
        choice("data.eval_split", self.eval_split, ("val", "test"))
        if self.eval_split == "test" and getattr(self.source, "kind", None) != "ilsvrc2010":
            raise ConfigError("data.eval_split=test needs a source with a labelled test set: only ilsvrc2010 "
                              f"(data=imagenet2010) has one, not {getattr(self.source, 'kind', None)!r}")
        if self.workers != "auto":
            if isinstance(self.workers, bool) or not isinstance(self.workers, int):
                raise ConfigError(f"data.workers={self.workers!r} is impossible; it must be a number >= 0 or auto")
            in_range("data.workers", self.workers, 0)
        choice("data.decoder", self.decoder, ("cpu", "dali"))
        choice("data.image_size", self.image_size, DECODE_SIZES)
        in_range("data.minival_per_class", self.minival_per_class, 1)
        if self.shuffle_labels and self.decoder == "dali":
            raise ConfigError("data.shuffle_labels=true is a CPU-loader control: use data.decoder=cpu")


@dataclass
class PrepareConfig:
    """src/download.py, src/resize.py, src/pca.py."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING


register({"data": DataConfig}, ("prepare", PrepareConfig))
