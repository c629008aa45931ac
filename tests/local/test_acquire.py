"""Data acquisition: download once (progress, checksum, atomic cache), safe extraction, inputs, samples."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading

import pandas as pd
import pytest

from ds_on_aws.local import acquire
from ds_on_aws.local.errors import UsageError


def tarball_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TINY_ACLIMDB = tarball_bytes({
    "aclImdb/train/pos/0_9.txt": b"Great film.",
    "aclImdb/train/neg/0_2.txt": b"Awful film.",
    "aclImdb/train/unsup/0_0.txt": b"not needed",
    "aclImdb/README": b"readme",
})


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    hits = 0

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    handler = type("Handler", (_Handler,), {"payload": TINY_ACLIMDB, "hits": 0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/aclImdb_v1.tar.gz", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/aclImdb_v1.tar.gz"


GOOD_SHA = hashlib.sha256(TINY_ACLIMDB).hexdigest()


def test_download_verifies_shows_progress_and_caches(server, tmp_path, capsys):
    url, handler = server
    target = tmp_path / "cache" / "aclImdb_v1.tar.gz"
    assert acquire.download(url, target, GOOD_SHA) == target
    assert target.read_bytes() == TINY_ACLIMDB
    assert "download aclImdb_v1.tar.gz" in capsys.readouterr().err  # tqdm progress bar
    assert acquire.download(url, target, GOOD_SHA) == target  # cache hit: no second request
    assert handler.hits == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["aclImdb_v1.tar.gz"]


def test_checksum_mismatch_is_a_clear_error_and_caches_nothing(server, tmp_path):
    url, _ = server
    target = tmp_path / "cache" / "aclImdb_v1.tar.gz"
    with pytest.raises(UsageError, match="corrupt: sha256") as info:
        acquire.download(url, target, "0" * 64)
    assert "--imdb-dir" in str(info.value)
    assert list(target.parent.iterdir()) == []  # no file, no leftover .part


def test_a_corrupt_cache_entry_is_fetched_again(server, tmp_path):
    url, handler = server
    target = tmp_path / "aclImdb_v1.tar.gz"
    target.write_bytes(b"truncated")
    acquire.download(url, target, GOOD_SHA)
    assert target.read_bytes() == TINY_ACLIMDB and handler.hits == 1


def test_no_network_stops_at_once_naming_the_flag_and_the_variable(closed_port_url, tmp_path):
    with pytest.raises(UsageError) as info:
        acquire.download(closed_port_url, tmp_path / "x.tar.gz", GOOD_SHA)
    message = str(info.value)
    assert "cannot download" in message and "--imdb-dir" in message and "DS_ON_AWS_IMDB_DIR" in message
    assert not (tmp_path / "x.tar.gz").exists()


def test_official_download_path_extracts_only_what_the_pipeline_reads(server, tmp_path, monkeypatch):
    url, _ = server
    monkeypatch.setenv(acquire.CACHE_DIR_ENV, str(tmp_path / "cache"))
    raw = acquire.resolve_official_download(tmp_path / "run", url=url, sha256=GOOD_SHA)
    assert raw.input_format == "aclimdb"
    assert (raw.path / "train" / "pos" / "0_9.txt").read_bytes() == b"Great film."
    assert not (raw.path / "train" / "unsup").exists()
    assert (tmp_path / "cache" / acquire.IMDB_TARBALL).is_file()


@pytest.mark.parametrize("evil", ["../escaped.txt", "/tmp/ds-on-aws-absolute-escape.txt"])
def test_tarballs_cannot_write_outside_the_run_folder(tmp_path, evil):
    tarball = tmp_path / "evil.tar.gz"
    tarball.write_bytes(tarball_bytes({"aclImdb/train/pos/0_9.txt": b"ok", evil: b"owned"}))
    with pytest.raises(UsageError, match="unsafe member"):
        acquire.resolve_user_input(tarball, tmp_path / "run")
    assert not (tmp_path / "run" / "input" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "run" / "input" / "extracted" / "aclImdb").exists()  # refused before extracting


def test_user_inputs_are_resolved_or_refused_in_one_line(tmp_path):
    with pytest.raises(UsageError, match="input not found"):
        acquire.resolve_user_input(tmp_path / "nope.csv", tmp_path)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"this is not gzip")
    with pytest.raises(UsageError, match="cannot read input"):
        acquire.resolve_user_input(broken, tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(UsageError, match="is empty"):
        acquire.resolve_user_input(empty, tmp_path)
    good = tmp_path / "reviews.csv"
    good.write_text("review,sentiment\nfine,positive\n")
    assert acquire.resolve_user_input(good, tmp_path).path == good
    tarball = tmp_path / "aclImdb_v1.tar.gz"
    tarball.write_bytes(TINY_ACLIMDB)
    raw = acquire.resolve_user_input(tarball, tmp_path / "run")
    assert raw.input_format == "aclimdb" and raw.path.name == "aclImdb"


def test_imdb_dir_prefers_train_csv_and_explains_what_it_expects(tmp_path, monkeypatch):
    monkeypatch.delenv(acquire.IMDB_DIR_ENV, raising=False)
    with pytest.raises(UsageError, match="holds none of train.csv.gz"):
        acquire.resolve_imdb_dir(tmp_path, tmp_path / "run")
    with pytest.raises(UsageError, match="IMDb folder not found"):
        acquire.resolve_input(None, str(tmp_path / "missing"), tmp_path / "run")
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(TINY_ACLIMDB)
    assert acquire.resolve_imdb_dir(tmp_path, tmp_path / "run").input_format == "aclimdb"
    pd.DataFrame({"review": ["a"], "sentiment": ["positive"]}).to_csv(tmp_path / "train.csv.gz", index=False)
    monkeypatch.setenv(acquire.IMDB_DIR_ENV, str(tmp_path))
    assert acquire.resolve_input(None, None, tmp_path / "run").path == tmp_path / "train.csv.gz"


def test_sample_is_stratified_deterministic_and_keeps_raw_text(tmp_path):
    frame = pd.DataFrame({"review": [f'review "{i}",<br />x' for i in range(100)],
                          "sentiment": ["positive"] * 70 + ["negative"] * 30, "rating": [""] * 100})
    source = tmp_path / "reviews.csv"
    frame.to_csv(source, index=False)
    raw = acquire.RawInput(source, "auto", "test")
    first = pd.read_csv(acquire.sample_input(raw, 10, 42, tmp_path / "a").path, dtype=str, keep_default_na=False)
    again = pd.read_csv(acquire.sample_input(raw, 10, 42, tmp_path / "b").path, dtype=str, keep_default_na=False)
    other = pd.read_csv(acquire.sample_input(raw, 10, 7, tmp_path / "c").path, dtype=str, keep_default_na=False)
    assert first["sentiment"].value_counts().to_dict() == {"positive": 7, "negative": 3}
    assert first.equals(again) and not first.equals(other)
    assert set(first["review"]) <= set(frame["review"])  # text untouched (quotes, commas, tags)
    assert list(first.columns) == ["review", "sentiment", "rating"]


def test_sample_of_an_aclimdb_tree_copies_files_per_folder(tmp_path):
    for label, count in (("pos", 30), ("neg", 10)):
        folder = tmp_path / "aclImdb" / "train" / label
        folder.mkdir(parents=True)
        for i in range(count):
            (folder / f"{i}_{9 if label == 'pos' else 2}.txt").write_text(f"{label} {i}")
    raw = acquire.RawInput(tmp_path / "aclImdb", "aclimdb", "tree")
    sample = acquire.sample_input(raw, 8, 42, tmp_path / "run")
    assert len(list((sample.path / "train" / "pos").iterdir())) == 6
    assert len(list((sample.path / "train" / "neg").iterdir())) == 2
    with pytest.raises(UsageError, match="positive"):
        acquire.sample_input(raw, 0, 42, tmp_path / "run2")
