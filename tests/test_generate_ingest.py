"""The generated set: deterministic, parses as ILSVRC-2012, carries ImageNet's quirks; ingest is safe."""

import hashlib
import io
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from alexnet_repro.data.generate import GeneratedSpec, generate, wnid
from alexnet_repro.data.ilsvrc import index_ilsvrc, parse_devkit, read_archive_index, read_classes
from alexnet_repro.data.safe_tar import UnsafeArchiveError, extract_to
from alexnet_repro.data.sources import archive_parts, read_part


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes(tmp_path, tiny_data):
    again = generate(tmp_path, tiny_data["spec"], workers=1, progress=False)
    for key, path in tiny_data["archives"].items():
        assert md5(path) == md5(again[key]), key
    other = generate(tmp_path / "other", GeneratedSpec(classes=4, train_per_class=16, val_per_class=6, seed=4),
                     workers=1, progress=False)
    assert md5(other["train"]) != md5(tiny_data["archives"]["train"])


def test_archives_have_the_ilsvrc_2012_layout(tiny_data):
    spec, archives = tiny_data["spec"], tiny_data["archives"]
    with tarfile.open(archives["train"]) as outer:
        names = outer.getnames()
        assert names == [f"{wnid(c)}.tar" for c in range(spec.classes)]
        inner = tarfile.open(fileobj=outer.extractfile(names[0]))
        assert inner.getnames()[0] == f"{wnid(0)}_1.JPEG" and len(inner.getnames()) == spec.train_per_class
    with tarfile.open(archives["val"]) as val:
        assert val.getnames()[0] == "ILSVRC2012_val_00000001.JPEG"
        assert len(val.getnames()) == spec.classes * spec.val_per_class
    id_to_wnid, words, truth = parse_devkit(archives["devkit"])
    assert id_to_wnid == {c + 1: wnid(c) for c in range(spec.classes)}
    assert all("generated" in w for w in words.values())  # never labelled as ImageNet
    assert sorted(np.bincount(truth)[1:].tolist()) == [spec.val_per_class] * spec.classes


def test_the_archives_are_indexed_in_place_with_counts_and_labels(tiny_data):
    spec, raw = tiny_data["spec"], tiny_data["raw"]
    classes = read_classes(raw)
    assert [c["wnid"] for c in classes] == [wnid(c) for c in range(spec.classes)]
    assert sorted(p.name for p in raw.iterdir()) == ["archives.json", "classes.json"]  # nothing unpacked
    index = read_archive_index(raw)
    label_of = {c["wnid"]: i for i, c in enumerate(classes)}
    for split, per_class in (("train", spec.train_per_class), ("val", spec.val_per_class)):
        labels = [label for part in archive_parts(index, split, label_of) for _, label, _ in read_part(part)]
        assert np.bincount(labels).tolist() == [per_class] * spec.classes


def test_a_changed_archive_makes_the_index_stale(tiny_data, tmp_path):
    archives = {k: tmp_path / p.name for k, p in tiny_data["archives"].items()}
    for key, path in archives.items():
        path.write_bytes(tiny_data["archives"][key].read_bytes())
    index_ilsvrc(archives["train"], archives["val"], archives["devkit"], tmp_path / "raw", progress=False)
    assert read_archive_index(tmp_path / "raw") is not None
    archives["val"].write_bytes(archives["val"].read_bytes() + b"\0" * 512)
    with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_val.tar is missing or changed"):
        read_archive_index(tmp_path / "raw")


def test_quirks_are_present_like_imagenet(tiny_data):
    modes, formats, small, large = set(), set(), 0, 0
    for path in tiny_data["tree"].rglob("*.JPEG"):
        with Image.open(path) as im:
            modes.add(im.mode)
            formats.add(im.format)
            small += min(im.size) < 256
            large += max(im.size) > 900
    assert {"RGB", "L", "CMYK"} <= modes
    assert formats == {"JPEG", "PNG"}  # one PNG named .JPEG
    assert small > 0 and large > 0


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buf.getvalue()


@pytest.mark.parametrize("make, reason", [
    (lambda: tarfile.TarInfo("/etc/evil"), "absolute"),
    (lambda: tarfile.TarInfo("../evil"), r"'\.\.'"),
    (lambda: _link("evil", tarfile.SYMTYPE), "link"),
    (lambda: _link("evil", tarfile.LNKTYPE), "link"),
    (lambda: _link("evil", tarfile.CHRTYPE), "device"),
])
def test_unsafe_entries_are_refused(tmp_path, make, reason):
    member = make()
    member.size = 0
    archive = tmp_path / "bad.tar"
    archive.write_bytes(_tar_with(member))
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_to(archive, tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "evil").exists()


def _link(name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = "/etc/passwd"
    return info


def test_truncated_archive_is_a_clear_error_and_leaves_no_raw_tree(tmp_path, tiny_data):
    archives = tiny_data["archives"]
    cut = tmp_path / "ILSVRC2012_img_val.tar"
    cut.write_bytes(archives["val"].read_bytes()[: archives["val"].stat().st_size // 2])
    with pytest.raises(tarfile.ReadError, match="ILSVRC2012_img_val.tar"):
        index_ilsvrc(archives["train"], cut, archives["devkit"], tmp_path / "raw", progress=False)
    assert not (tmp_path / "raw").exists()


def test_imagefolder_refuses_an_empty_class_and_ignores_hidden_files(tiny_data, tmp_path):
    from alexnet_repro.data.ilsvrc import ingest_imagefolder

    tree = tmp_path / "tree"
    for split in ("train", "val"):
        shutil.copytree(tiny_data["tree"] / split, tree / split)
    for junk in (tree / "train" / ".DS_Store", tree / "val" / ".DS_Store",
                 next((tree / "train").iterdir()) / "._n99000000_1.JPEG"):
        junk.write_bytes(b"\0\1")
    raw = ingest_imagefolder(tree, tmp_path / "raw")
    assert [c["wnid"] for c in read_classes(raw)] == sorted(p.name for p in (tiny_data["tree"] / "train").iterdir()
                                                            if p.is_dir())
    assert not list(raw.rglob(".*"))  # hidden files are not images
    (tree / "train" / "n99000099").mkdir()
    with pytest.raises(ValueError, match="n99000099 holds no images"):
        ingest_imagefolder(tree, tmp_path / "raw2")
    assert not (tmp_path / "raw2").exists()


def _devkit_with(tmp_path, meta: dict):
    import gzip
    import io

    from scipy.io import savemat

    from alexnet_repro.data.generate import _tar_bytes

    buf = io.BytesIO()
    savemat(buf, meta)
    path = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    path.write_bytes(gzip.compress(_tar_bytes([("ILSVRC2012_devkit_t12/data/meta.mat", buf.getvalue()),
                                               ("ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
                                                b"1\n2\n")])))
    return path


def test_a_devkit_whose_meta_mat_is_a_cell_array_reads_like_the_official_struct(tmp_path):
    """torchvision's own test mock saves `synsets` as a cell array of rows; it failed with a traceback."""
    rows = np.empty((3, 8), dtype=object)
    for i, (wnid_, children) in enumerate((("n01440764", 0), ("n01443537", 0), ("n00001740", 2))):
        rows[i] = [i + 1, wnid_, f"words {i}", "gloss", children, np.array([]), 0, 0]
    id_to_wnid, words, truth = parse_devkit(_devkit_with(tmp_path, {"synsets": rows}))
    assert id_to_wnid == {1: "n01440764", 2: "n01443537"} and words["n01443537"] == "words 1" and truth == [1, 2]


def test_a_meta_mat_without_synsets_is_one_line_naming_the_devkit(tmp_path):
    with pytest.raises(ValueError, match=r"ILSVRC2012_devkit_t12.tar.gz: its data/meta.mat holds no readable"):
        parse_devkit(_devkit_with(tmp_path, {"something_else": np.zeros(3)}))
