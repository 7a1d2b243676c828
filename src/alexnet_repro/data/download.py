"""The download stage's logic: get the configured source's archives, verified, and ingest them into raw_dir
(ILSVRC-layout archives are indexed in place, not unpacked: data/ilsvrc.py, data/ilsvrc2010.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from torchvision.datasets.imagenet import ARCHIVE_META

from alexnet_repro.basics import ConfigError
from alexnet_repro.data import cifar10
from alexnet_repro.data.fetch import fetch
from alexnet_repro.data.generate import generate, spec_from
from alexnet_repro.data.generate_cifar10 import cifar_spec_from, generate_cifar10
from alexnet_repro.data.ilsvrc import index_ilsvrc, ingest_imagefolder
from alexnet_repro.data.ilsvrc2010 import FILES as ILSVRC2010_FILES
from alexnet_repro.data.ilsvrc2010 import index_ilsvrc2010
from alexnet_repro.data.safe_tar import extract_to

if TYPE_CHECKING:  # the data group's schema, for its type only: this module takes its values
    from alexnet_repro.data.config import SourceConfig

# Imagenette's published archives and class names (fast.ai; the same values torchvision's Imagenette holds
# in private attributes, copied here so that a torchvision release cannot move them).
# By archive name, so that a mirror serving the same file is checked too.
IMAGENETTE_MD5 = {
    "imagenette2.tgz": "fe2fc210e6bb7c5664d602c3cd71e612",
    "imagenette2-320.tgz": "3df6f0d01a2c9592104656642f5e78a3",
    "imagenette2-160.tgz": "e793b78cc4c9e9a4ccc0c1155377a412",
}
IMAGENETTE_WORDS = {
    "n01440764": "tench, Tinca tinca", "n02102040": "English springer, English springer spaniel",
    "n02979186": "cassette player", "n03000684": "chain saw, chainsaw", "n03028079": "church, church building",
    "n03394916": "French horn, horn", "n03417042": "garbage truck, dustcart",
    "n03425413": "gas pump, gasoline pump, petrol pump, island dispenser",
    "n03445777": "golf ball", "n03888257": "parachute, chute",
}


def _is_url(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https", "file")


def expected_md5(source: SourceConfig, name: str, published: str | None) -> str | None:
    """The md5 an archive is checked against: data.source.md5's for a mirror of one's own, else the published one;
    None with verify_md5=false. Asked to verify a file of no known md5, it stops rather than skip the check."""
    if not source.verify_md5:
        return None
    md5 = source.md5.get(name, published)
    if md5 is None:
        raise ConfigError(f"no md5 is known for {name} (data.source.verify_md5=true): give it as "
                          f"data.source.md5={{{name}: <md5>}}, or set data.source.verify_md5=false")
    return md5


def fetch_ilsvrc(source: SourceConfig, progress: bool) -> dict[str, Path]:
    """The three official archives from a folder or a URL prefix, checked against the published md5s."""
    location, dest_dir, paths = source.location, Path(source.download_dir), {}
    for key, (name, published) in ARCHIVE_META.items():
        md5 = expected_md5(source, name, published)
        if _is_url(location):
            paths[key] = fetch(f"{location.rstrip('/')}/{name}", dest_dir / name, md5, progress)
        else:
            paths[key] = fetch(str(Path(location) / name), Path(location) / name, md5, progress)
    return paths


def fetch_ilsvrc2010(location: str, dest_dir: Path, progress: bool) -> dict[str, Path]:
    """ILSVRC-2010's five files (data/ilsvrc2010.py's FILES) from a folder or a URL prefix. No md5s were
    published for them: fetch checks that each tar reads whole instead (data/fetch.py)."""
    paths = {}
    for key, name in ILSVRC2010_FILES.items():
        source = f"{location.rstrip('/')}/{name}" if _is_url(location) else str(Path(location) / name)
        paths[key] = fetch(source, (dest_dir if _is_url(location) else Path(location)) / name, None, progress)
    return paths


def fetch_cifar10(source: SourceConfig, progress: bool) -> Path:
    """CIFAR-10's archive from its URL, a file, or a folder holding it; checked against the published md5 (or
    data.source.md5's) before anything reads it. A local file is used where it lies."""
    location = source.location
    if _is_url(location):
        name = Path(urlparse(location).path).name
        return fetch(location, Path(source.download_dir) / name, expected_md5(source, name, _cifar_md5(name)),
                     progress)
    path = Path(location) / cifar10.ARCHIVE if Path(location).is_dir() else Path(location)
    return fetch(str(path), path, expected_md5(source, path.name, _cifar_md5(path.name)), progress)


def _cifar_md5(name: str) -> str | None:
    return cifar10.ARCHIVE_MD5 if name == cifar10.ARCHIVE else None


def cifar10_md5s(source: SourceConfig) -> dict[str, str | None]:
    """What each pickle of the archive is checked against: data.source.md5's entry, else torchvision's list."""
    return {name: expected_md5(source, name, published) for name, published in cifar10.MEMBER_MD5.items()}


def _ingest_imagenette(archive: Path, unpacked: Path, raw_dir: Path) -> Path:
    """The unpacked archive's <name>/train, <name>/val tree into raw_dir. Its faults name the archive: the
    folder it was unpacked to is a temporary one, gone by the time the user reads the message."""
    trains = sorted((p for p in unpacked.rglob("train") if p.is_dir()), key=lambda p: len(p.parts))
    if not trains:
        raise FileNotFoundError(f"{archive} holds no train/ folder: an Imagenette archive holds "
                                "<name>/train/<wnid>/ and <name>/val/<wnid>/ folders of images")
    try:
        return ingest_imagefolder(trains[0].parent, raw_dir, IMAGENETTE_WORDS)
    except (FileNotFoundError, ValueError) as err:
        if type(err) not in (FileNotFoundError, ValueError):  # a subclass may take other arguments
            raise
        raise type(err)(str(err).replace(str(unpacked), str(archive))) from None


def acquire(source: SourceConfig, raw_dir: str | Path, workers: int = 2, progress: bool = True) -> Path:
    raw_dir = Path(raw_dir)
    if source.kind == "embedded":
        paths = generate(source.location, spec_from(source.generated), workers=workers, progress=progress)
        return index_ilsvrc(paths["train"], paths["val"], paths["devkit"], raw_dir, progress)
    if source.kind == "ilsvrc":
        paths = fetch_ilsvrc(source, progress)
        return index_ilsvrc(paths["train"], paths["val"], paths["devkit"], raw_dir, progress)
    if source.kind == "ilsvrc2010":
        return index_ilsvrc2010(fetch_ilsvrc2010(source.location, Path(source.download_dir), progress), raw_dir,
                                progress)
    if source.kind == "imagenette":
        name = Path(urlparse(source.location).path).name
        md5 = expected_md5(source, name, IMAGENETTE_MD5.get(name))
        archive = fetch(source.location, Path(source.download_dir) / name, md5, progress)
        with tempfile.TemporaryDirectory(dir=raw_dir.parent if raw_dir.parent.exists() else None) as tmp:
            extract_to(archive, Path(tmp))
            return _ingest_imagenette(archive, Path(tmp), raw_dir)
    if source.kind == "imagefolder":
        return ingest_imagefolder(Path(source.location), raw_dir)
    if source.kind == "cifar10":
        return cifar10.index_cifar10(fetch_cifar10(source, progress), raw_dir, cifar10_md5s(source))
    if source.kind == "cifar10_embedded":
        archive, md5s = generate_cifar10(source.location, cifar_spec_from(source.generated), workers, progress)
        return cifar10.index_cifar10(archive, raw_dir, md5s)
    raise ValueError(f"data.source.kind={source.kind!r} is not a known source")
