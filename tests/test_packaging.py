"""sourcedir.tar.gz and the Glue job's zip: reproducible bytes and exactly the files SageMaker and Glue need."""

import hashlib
import tarfile
import zipfile

import pytest

from ds_on_aws.packaging import (
    GLUE_PACKAGE_DIR,
    PackagingError,
    build_glue_package,
    build_glue_package_zip,
    build_sourcedir_tarball,
    glue_package_files,
    sourcedir_files,
)


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
    path = build_sourcedir_tarball(tmp_path / "sourcedir.tar.gz", code, vendored=())
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert names == sorted(names)
        assert set(names) == {"inference.py", "pipeline_contracts.py", "review_text.py", "train.py"}
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


def _fake_package(tmp_path):
    package = tmp_path / "review_cleaning"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("from review_cleaning.job import main\n")
    (package / "job.py").write_text("def main():\n    return 0\n")
    (package / "__pycache__" / "job.cpython-311.pyc").write_bytes(b"not shipped")
    (package / "notes.txt").write_text("not shipped")
    return package


def test_glue_zip_is_byte_for_byte_reproducible(tmp_path):
    package = _fake_package(tmp_path)
    first = build_glue_package_zip(tmp_path / "a" / "review_cleaning.zip", package)
    (package / "job.py").touch()  # a new mtime must not change the bytes
    second = build_glue_package_zip(tmp_path / "b" / "review_cleaning.zip", package)
    assert first.read_bytes() == second.read_bytes()


def test_glue_zip_holds_the_package_under_its_name(tmp_path):
    path = build_glue_package_zip(tmp_path / "review_cleaning.zip", _fake_package(tmp_path), vendored=())
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == ["review_cleaning/__init__.py", "review_cleaning/job.py"]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and i.external_attr >> 16 == 0o100644
                   for i in archive.infolist())
        assert archive.read("review_cleaning/job.py") == b"def main():\n    return 0\n"


def test_the_real_glue_package_is_every_module_of_review_cleaning(tmp_path):
    names = {n for n in glue_package_files() if n.startswith("review_cleaning/")}
    assert names == {f"review_cleaning/{p.name}" for p in GLUE_PACKAGE_DIR.glob("*.py")}
    assert {"review_cleaning/__init__.py", "review_cleaning/job.py"} <= names
    built = build_glue_package(tmp_path)
    assert built == tmp_path / "review_cleaning.zip" and build_glue_package(tmp_path).read_bytes() == built.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["review_cleaning.zip"]  # no temporary file left behind


def test_a_folder_without_init_is_not_a_glue_package(tmp_path):
    with pytest.raises(PackagingError, match="no __init__.py"):
        glue_package_files(tmp_path)


def test_vendored_libraries_ship_with_their_licences_and_work_from_the_archives(tmp_path):
    """review_text's ftfy (both archives) and py3langid's model (Glue) import and run from the built archives."""
    import subprocess
    import sys

    tarball = build_sourcedir_tarball(tmp_path / "sourcedir.tar.gz")
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "src", filter="data")
    assert {"ftfy/__init__.py", "wcwidth/__init__.py", "ftfy/VENDORED-LICENSE.txt"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    glue_zip = build_glue_package(tmp_path / "glue")
    with zipfile.ZipFile(glue_zip) as archive:
        assert {"py3langid/data/model.npz.xz", "py3langid/VENDORED-LICENSE", "ftfy/__init__.py"} <= set(archive.namelist())
    probe = ("import ftfy, review_text, sys; assert ftfy.__file__.startswith(sys.argv[1]), ftfy.__file__; "
             "print(review_text.normalize_text('clich\\u00c3\\u00a9'))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    out = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path / "src")], cwd=tmp_path / "src", env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "clich\u00e9"
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import py3langid; assert '.zip' in py3langid.__file__; "
             "from review_cleaning.language import LanguageRule; "
             "print(LanguageRule().foreign_language('Ce film est vraiment magnifique, les acteurs jouent tr\u00e8s bien.'))")
    out = subprocess.run([sys.executable, "-c", probe, str(glue_zip)], cwd=tmp_path, capture_output=True, text=True,
                         env={**env, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fr"


def test_every_runtime_module_of_common_is_installed_with_the_project():
    # The installed commands (ds-on-aws score, transcribe ...) import them as top-level modules; a module missing
    # from py-modules works under the test PYTHONPATH and fails in an installed checkout.
    import tomllib

    from ds_on_aws.packaging import PROJECT_ROOT

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    installed = set(project["tool"]["setuptools"]["py-modules"])
    assert installed == {p.stem for p in (PROJECT_ROOT / "common").glob("*.py")}
