"""Resumable, checksummed dataset downloads, for ``python -m atrc_nas.data download``.

Nothing here runs unless a user asks for it: the package never touches the network on
its own. The bytes go to ``<dest>/<name>.part``; an interrupted download resumes from
there with an HTTP Range request, and only a file whose SHA-256 matches is renamed to
``<dest>/<name>`` and extracted.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from atrc_nas.data.io import DataFileError

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A download could not be completed."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 is not the expected one."""


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def archive_name(url: str) -> str:
    """The file name at the end of ``url``'s path."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name:
        raise ValueError(f"{url!r} does not end in a file name")
    return name


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    extract: bool = True,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` into the folder ``dest`` and return the downloaded file's path.

    A file already at ``dest/<name>`` is verified instead of fetched again. With
    ``sha256`` given, a mismatching file is deleted and ``ChecksumError`` raised; without
    it the digest is logged so that it can be pinned. ``extract`` unpacks .tar.gz, .tgz,
    .tar and .zip archives into ``dest``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / archive_name(url)
    if not final.is_file():
        part = final.with_name(final.name + ".part")
        _fetch(url, part, progress=progress, timeout=timeout)
        _verify(part, sha256, url)
        os.replace(part, final)  # atomic: a file under the final name is always complete
    else:
        _verify(final, sha256, url)
    if extract:
        extract_archive(final, dest)
    return final


def _verify(path: Path, sha256: str | None, url: str) -> None:
    actual = sha256_file(path)
    if sha256 is None:
        log.info("sha256 of %s (from %s): %s", path.name, url, actual)
        return
    if actual != sha256.strip().lower():
        path.unlink()
        raise ChecksumError(
            f"{path}: sha256 {actual} does not match the expected {sha256} for {url}; "
            "the file was deleted, run the download again or check the URL and checksum"
        )


_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(?:\d+|\*)")


def _fetch(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Append the rest of ``url`` to ``part``, from where an earlier attempt stopped."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to fetch: the checksum decides
            return
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except OSError as err:  # URLError included
        raise DownloadError(f"{url}: {getattr(err, 'reason', err)}") from None
    with response:
        if offset and response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise DownloadError(
                    f"{url}: server resumed at {response.headers.get('Content-Range')!r}, "
                    f"expected byte {offset}; delete {part} to start over"
                )
        else:
            offset = 0  # a full response: start the file over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        received = _copy(response, part, offset, total, progress)
    if total is not None and received < total:
        raise DownloadError(
            f"{url}: connection closed after {received} of {total} bytes; "
            f"run again to resume from {part}"
        )


def _copy(response: BinaryIO, part: Path, offset: int, total: int | None, progress: bool) -> int:
    """Write ``response`` to ``part`` from byte ``offset``; the bytes ``part`` then holds."""
    received = offset
    bar = tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=part.name.removesuffix(".part"),
        disable=not progress,
    )
    with bar, open(part, "ab" if offset else "wb") as f:
        try:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(
                f"download interrupted after {received} bytes ({err}); "
                f"run again to resume from {part}"
            ) from None
    return received


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")  # refuses absolute paths, "..", device files


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)  # zipfile drops absolute paths and ".." components


_EXTRACTORS: dict[str, Callable[[Path, Path], None]] = {
    ".tar.gz": _extract_tar,
    ".tgz": _extract_tar,
    ".tar": _extract_tar,
    ".zip": _extract_zip,
}


def extract_archive(archive: str | Path, dest: str | Path) -> None:
    """Unpack a .tar.gz, .tgz, .tar or .zip archive into ``dest``."""
    archive, dest = Path(archive), Path(dest)
    suffix = next((s for s in _EXTRACTORS if archive.name.lower().endswith(s)), None)
    if suffix is None:
        raise DataFileError(archive, f"unknown archive type; expected one of {list(_EXTRACTORS)}")
    try:
        _EXTRACTORS[suffix](archive, dest)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise DataFileError(archive, f"corrupt or unsafe archive ({err})") from None
