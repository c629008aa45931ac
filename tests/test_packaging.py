"""sourcedir.tar.gz: reproducible bytes and exactly the files SageMaker needs."""

import hashlib
import tarfile

import pytest

from ds_on_aws.packaging import PackagingError, build_sourcedir_tarball, sourcedir_files


def _fake_training(tmp_path):
    code = tmp_path / "training"
    code.mkdir()
    (code / "train.py").write_text("print('train')\n")
    (code / "inference.py").write_text("def model_fn(d):\n    return d\n")
    (code / "notes.txt").write_text("not shipped")
    return code


def test_tarball_is_byte_for_byte_reproducible(tmp_path):
    code = _fake_training(tmp_path)
    first = build_sourcedir_tarball(tmp_path / "a" / "sourcedir.tar.gz", code)
    (code / "train.py").touch()  # a new mtime must not change the bytes
    second = build_sourcedir_tarball(tmp_path / "b" / "sourcedir.tar.gz", code)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()


def test_tarball_holds_the_code_and_the_shared_module_at_its_root(tmp_path):
    code = _fake_training(tmp_path)
    path = build_sourcedir_tarball(tmp_path / "sourcedir.tar.gz", code)
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert names == sorted(names)
        assert set(names) == {"inference.py", "review_text.py", "train.py"}
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())


def test_missing_entry_point_is_named(tmp_path):
    code = _fake_training(tmp_path)
    (code / "inference.py").unlink()
    with pytest.raises(PackagingError, match="train.py and inference.py"):
        sourcedir_files(code)
    with pytest.raises(PackagingError, match="not found"):
        sourcedir_files(tmp_path / "nowhere")


def test_a_training_module_may_not_shadow_the_shared_one(tmp_path):
    code = _fake_training(tmp_path)
    (code / "review_text.py").write_text("# a drifting copy")
    with pytest.raises(PackagingError, match="shadow"):
        sourcedir_files(code)
