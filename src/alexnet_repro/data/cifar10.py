"""CIFAR-10's python archive (the data of the paper's Figure 1 and section 3.3's 13% -> 11%), read in place:
never unpacked, its pickles never given a chance to run code.

  cifar-10-python.tar.gz            md5 c58f30108f718f92721af3b95e74349a (www.cs.toronto.edu/~kriz/cifar.html)
    cifar-10-batches-py/data_batch_1 .. data_batch_5   10,000 training images each
    cifar-10-batches-py/test_batch                     10,000 test images: the paper's test error
    cifar-10-batches-py/batches.meta                   label_names (airplane ... truck), in label order
    cifar-10-batches-py/readme.html

Each batch is a Python 2 pickle (protocol 2) of a dict: `data`, a 10000x3072 uint8 numpy array whose rows hold
an image's R, G and B planes of 32x32 one after the other, `labels`, a list of ints, and `batch_label`,
`filenames`. Python 2's str keys read as str under encoding="latin1" (torchvision's read) and as bytes under
encoding="bytes" (the dataset page's); both are taken.

Safety, in this order: the archive's md5 (the download stage, data/fetch.py; the published one unless
data.source.md5 names another); every member streamed through safe_tar's checks, at most MAX_MEMBER bytes held;
each pickle's md5 (torchvision's published ones, data.source.md5's for another archive), checked again before
resize unpickles it; and an unpickler that builds only dicts, lists, strings, numbers and uint8 arrays: the
three numpy names an array's pickle needs (below) are the only globals it resolves, from a fixed table, so a
pickle that names anything else (os.system, builtins.eval) is refused before anything runs.

The download stage writes raw_dir (data/ilsvrc.py's files, so resize finds it as it finds ILSVRC's):
  classes.json     [{"wnid": label name, "words": label name}] in label order
  archives.json    {"format", "image_size": 32, "train"/"val": {"archive": its path, size and mtime,
                    "batches": [{"member", "md5", "count"}]}}
and the resize stage stores the images as they are (32x32, no shorter-side-256 rescale): one shard per batch,
records named <batch>/<index in the batch>.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from alexnet_repro.atomic import atomic_dir
from alexnet_repro.data.ilsvrc import ARCHIVES, CLASSES, _identity
from alexnet_repro.data.safe_tar import check_member

ARCHIVE = "cifar-10-python.tar.gz"
URL = f"https://www.cs.toronto.edu/~kriz/{ARCHIVE}"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
# The pickles' md5s as torchvision's datasets/cifar.py lists them (CIFAR10.train_list, test_list, meta).
MEMBER_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
SPLIT_BATCHES = {"train": TRAIN_BATCHES, "val": (TEST_BATCH,)}  # the store's val split is CIFAR's test set
IMAGE_SIZE = 32
MAX_MEMBER = 64 << 20  # a batch is 31 MB; a larger member is not one, and is not read into memory


class CifarFormatError(ValueError):
    """A file that is not what CIFAR-10's archive holds, or a pickle that asks for more than a batch needs:
    one line naming the file (a ValueError: the stages print those as one line)."""


def _dtype(*args) -> np.dtype:
    dtype = np.dtype(*args)
    if dtype.hasobject:  # an array of Python objects is not image data
        raise pickle.UnpicklingError(f"dtype {dtype} holds Python objects")
    return dtype


# The only globals a batch's pickle names: numpy's array reconstructor (numpy 1's module name, which CIFAR's
# files use, and numpy 2's for the same function), the array type and the dtype. Resolved from this table,
# never imported by the name the file gives.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
           ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
           ("numpy", "ndarray"): np.ndarray,
           ("numpy", "dtype"): _dtype}


class _Refused(pickle.UnpicklingError):
    pass


class SafeUnpickler(pickle.Unpickler):
    """Builds plain data and uint8 arrays only (see ALLOWED); any other global is refused before it is called."""

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        raise _Refused(f"it names {module}.{name}, which a CIFAR-10 batch never holds")

    def persistent_load(self, pid):
        raise _Refused("it holds a persistent reference")


def load_pickle(data: bytes, where: str) -> dict:
    """A CIFAR-10 pickle's dict, its keys as str; `where` names the file in the one-line error."""
    try:
        obj = SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except _Refused as err:
        raise CifarFormatError(f"{where}: refused to unpickle: {err} (nothing in it was run)") from None
    except Exception as err:  # noqa: BLE001 - any failure of a hostile or damaged pickle is this file's fault
        raise CifarFormatError(f"{where}: not a readable CIFAR-10 pickle ({type(err).__name__}: "
                               f"{' '.join(str(err).split())[:200]})") from None
    if not isinstance(obj, dict):
        raise CifarFormatError(f"{where}: a pickled {type(obj).__name__}, not the dict of a CIFAR-10 file")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def batch_arrays(batch: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch's dict -> (N, 32, 32, 3) uint8 RGB images and (N,) int64 labels (>= 0), checked."""
    data, labels = batch.get("data"), batch.get("labels")
    side = IMAGE_SIZE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * side**2:
        described = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CifarFormatError(f"{where}: `data` is {described}, not an N x 3072 uint8 array")
    if not isinstance(labels, list) or len(labels) != len(data) or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in labels):
        raise CifarFormatError(f"{where}: `labels` is not a list of {len(data):,} class numbers")
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)  # R, G, B planes -> (N, 32, 32, 3)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def label_names(meta: dict, where: str) -> list[str]:
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, (str, bytes)) and n for n in names):
        raise CifarFormatError(f"{where}: `label_names` is not a list of class names")
    names = [n.decode("latin1") if isinstance(n, bytes) else n for n in names]
    if len(set(names)) != len(names) or any("/" in n for n in names):
        raise CifarFormatError(f"{where}: `label_names` repeats a name or holds a '/'")
    return names


def read_members(archive: str | Path, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
    """(member path, bytes) of the wanted members of a tar (any compression), streamed in one pass, each
    checked like extraction is and at most MAX_MEMBER bytes; the rest is skipped unread."""
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                name = str(check_member(archive, member))
                if name not in wanted or not member.isfile():
                    continue
                if member.size > MAX_MEMBER:
                    raise CifarFormatError(f"{archive}: {name} has {member.size:,} bytes, more than a CIFAR-10 "
                                           f"batch ({MAX_MEMBER:,} at most): not the CIFAR-10 python archive")
                yield name, tar.extractfile(member).read()
    except (tarfile.ReadError, EOFError, zlib.error, OSError) as err:
        raise tarfile.ReadError(f"{archive} is truncated or not a tar archive ({err})") from None


def _member(name: str) -> str:
    return f"{FOLDER}/{name}"


def _checked(data: bytes, where: str, md5: str | None) -> None:
    if md5 is not None and (actual := hashlib.md5(data).hexdigest()) != md5:
        raise CifarFormatError(f"{where}: md5 {actual} does not match the expected {md5} (data.source.md5 gives "
                               "another archive's; data.source.verify_md5=false skips the check)")


def index_cifar10(archive: Path, raw_dir: Path, md5: dict[str, str | None]) -> Path:
    """classes.json and archives.json in raw_dir for a CIFAR-10 python archive, read in one pass: every
    pickle checked against md5[<file name>] (None: not checked), unpickled safely and checked for shape,
    type and labels. The archive stays where it is; resize reads the batches from it."""
    archive = Path(archive)
    names = (*TRAIN_BATCHES, TEST_BATCH, META)
    found: dict[str, dict] = {}
    classes: list[str] | None = None
    for member, data in read_members(archive, {_member(n) for n in names}):
        name = PurePosixPath(member).name
        where = f"{archive}:{member}"
        _checked(data, where, md5.get(name))
        content = load_pickle(data, where)
        if name == META:
            classes = label_names(content, where)
        else:
            _, labels = batch_arrays(content, where)
            found[name] = {"member": member, "md5": hashlib.md5(data).hexdigest(), "count": len(labels),
                           "top": int(labels.max(initial=0)), "where": where}
    if missing := [n for n in names if n != META and n not in found] + ([META] if classes is None else []):
        raise CifarFormatError(f"{archive} holds no {_member(missing[0])}: not the CIFAR-10 python archive "
                               f"({ARCHIVE})")
    for entry in found.values():  # batches.meta may come after the batches in the archive
        if entry.pop("top") >= len(classes):
            raise CifarFormatError(f"{entry.pop('where')}: a label beyond the {len(classes)} classes of {META}")
        entry.pop("where")
    identity = _identity(archive)
    index = {"format": 1, "image_size": IMAGE_SIZE}
    for split, batches in SPLIT_BATCHES.items():
        index[split] = {"archive": identity, "batches": [found[b] for b in batches]}
    with atomic_dir(raw_dir) as tmp:
        (tmp / CLASSES).write_text(json.dumps([{"wnid": n, "words": n} for n in classes], indent=1))
        (tmp / ARCHIVES).write_text(json.dumps(index))
    return raw_dir


def read_batch(archive: str, member: str, md5: str) -> Iterator[tuple[str, int, np.ndarray]]:
    """(store name, label, (32, 32, 3) uint8 RGB) for every image of one batch of the archive; the batch's bytes
    are checked against the md5 the download stage recorded before they are unpickled."""
    where = f"{archive}:{member}"
    data = next((d for _, d in read_members(archive, {member})), None)
    if data is None:
        raise CifarFormatError(f"{archive} no longer holds {member}: run the download stage again "
                               "(`dvc repro download`)")
    _checked(data, where, md5)
    images, labels = batch_arrays(load_pickle(data, where), where)
    stem = PurePosixPath(member).name
    for i, (image, label) in enumerate(zip(images, labels)):
        yield f"{stem}/{i:05d}", int(label), image
