import hashlib
import io
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from atrc_nas.data.download import (
    ChecksumError,
    DownloadError,
    download,
    extract_archive,
)
from atrc_nas.data.io import DataFileError
from atrc_nas.data.registry import DATASETS

FILES = {"NYUD/gt_sets/train.txt": b"0001\n0002\n", "NYUD/depth/0001.npy": bytes(range(256)) * 64}


def make_tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@dataclass
class Served:
    """What the test server serves and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    cut_after: int | None = None  # close the connection after this many body bytes
    ranges: list[str | None] = field(default_factory=list)
    url: str = ""


class _Handler(BaseHTTPRequestHandler):
    served: Served

    def do_GET(self) -> None:
        served = self.served
        data = served.files.get(self.path)
        requested = self.headers.get("Range")
        served.ranges.append(requested)
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", requested or "")
        if served.honour_range and match:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if served.cut_after is not None:
            body = body[: served.cut_after]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Served]:
    served = Served()
    handler = type("Handler", (_Handler,), {"served": served})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    served.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verifies_and_extracts(server: Served, tmp_path: Path):
    archive = make_tar_gz(FILES)
    server.files["/data/NYUDv2.tar.gz"] = archive
    path = download(f"{server.url}/data/NYUDv2.tar.gz", tmp_path, sha256(archive), progress=False)
    assert path == tmp_path / "NYUDv2.tar.gz" and path.read_bytes() == archive
    assert not (tmp_path / "NYUDv2.tar.gz.part").exists()
    for name, data in FILES.items():
        assert (tmp_path / name).read_bytes() == data
    assert server.ranges == [None]
    # a second call verifies the file it has instead of fetching it again
    download(f"{server.url}/data/NYUDv2.tar.gz", tmp_path, sha256(archive), progress=False)
    assert server.ranges == [None]


def test_resume_from_a_part_file(server: Served, tmp_path: Path):
    archive = make_tar_gz(FILES)
    server.files["/NYUDv2.tar.gz"] = archive
    half = len(archive) // 2
    (tmp_path / "NYUDv2.tar.gz.part").write_bytes(archive[:half])
    path = download(f"{server.url}/NYUDv2.tar.gz", tmp_path, sha256(archive), progress=False)
    assert server.ranges == [f"bytes={half}-"]
    assert path.read_bytes() == archive


def test_interrupted_download_resumes_on_the_next_call(server: Served, tmp_path: Path):
    archive = make_zip(FILES)
    server.files["/a.zip"] = archive
    server.cut_after = 1000
    with pytest.raises(DownloadError, match="run again to resume"):
        download(f"{server.url}/a.zip", tmp_path, sha256(archive), progress=False)
    assert (tmp_path / "a.zip.part").stat().st_size == 1000
    assert not (tmp_path / "a.zip").exists()
    server.cut_after = None
    download(f"{server.url}/a.zip", tmp_path, sha256(archive), progress=False)
    assert server.ranges == [None, "bytes=1000-"]
    assert (tmp_path / "NYUD" / "depth" / "0001.npy").read_bytes() == FILES["NYUD/depth/0001.npy"]


def test_server_without_range_support_restarts(server: Served, tmp_path: Path):
    archive = make_tar_gz(FILES)
    server.files["/x.tgz"] = archive
    server.honour_range = False
    (tmp_path / "x.tgz.part").write_bytes(b"stale bytes")
    path = download(f"{server.url}/x.tgz", tmp_path, sha256(archive), progress=False)
    assert path.read_bytes() == archive


def test_complete_part_file_is_only_verified(server: Served, tmp_path: Path):
    archive = make_tar_gz(FILES)
    server.files["/x.tar.gz"] = archive
    (tmp_path / "x.tar.gz.part").write_bytes(archive)
    path = download(f"{server.url}/x.tar.gz", tmp_path, sha256(archive), progress=False)
    assert server.ranges == [f"bytes={len(archive)}-"] and path.read_bytes() == archive


def test_checksum_mismatch_deletes_the_file(server: Served, tmp_path: Path):
    archive = make_tar_gz(FILES)
    server.files["/x.tar.gz"] = archive
    wrong = sha256(b"something else")
    with pytest.raises(ChecksumError, match=f"does not match the expected {wrong}.*deleted"):
        download(f"{server.url}/x.tar.gz", tmp_path, wrong, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_no_checksum_logs_the_digest(server: Served, tmp_path: Path, caplog):
    archive = make_tar_gz(FILES)
    server.files["/x.tar.gz"] = archive
    with caplog.at_level("INFO", logger="atrc_nas.data.download"):
        download(f"{server.url}/x.tar.gz", tmp_path, None, extract=False, progress=False)
    assert sha256(archive) in caplog.text
    assert not (tmp_path / "NYUD").exists()


def test_http_errors_are_reported(server: Served, tmp_path: Path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server.url}/missing.tar.gz", tmp_path, None, progress=False)


def test_extract_rejects_unknown_and_corrupt_archives(tmp_path: Path):
    odd = tmp_path / "data.rar"
    odd.write_bytes(b"x")
    with pytest.raises(DataFileError, match="unknown archive type"):
        extract_archive(odd, tmp_path)
    broken = tmp_path / "data.tar.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(DataFileError, match="corrupt or unsafe archive"):
        extract_archive(broken, tmp_path)


def test_extract_refuses_paths_outside_dest(tmp_path: Path):
    archive = tmp_path / "evil.tar"
    archive.write_bytes(make_tar_gz({"../escape.txt": b"x"}))
    with pytest.raises(DataFileError, match="outside the destination"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_known_sources_cover_the_real_datasets():
    sources = {name: entry.sources for name, entry in DATASETS.items() if entry.sources}
    assert set(sources) == {"nyud", "pascal"}
    for source in sources.values():
        assert source.urls and all(u.startswith("https://") for u in source.urls)
        assert source.sha256 is None and "--url" in source.note
