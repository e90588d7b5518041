"""Download helpers for machines with internet access: a Wikipedia dump and the SQuAD v1.1 / v2.0 files.

Offline (or when the host is unreachable) they fail fast with a message that says so; nothing partial is left
behind (downloads go to a temporary name and are renamed when complete). Existing files are kept unless
``overwrite``.

    python -m data_prep.download wikipedia --output_dir data/raw --language en
    python -m data_prep.download squad --version 2.0 --output_dir data/squad
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import urllib.error
import urllib.request

from data_prep.common import DataPrepError, log
from electra.io import atomic_write, storing
from electra.commands.entry import Command
from electra.configs import knob

WIKIPEDIA_URL = "https://dumps.wikimedia.org/{lang}wiki/latest/{lang}wiki-latest-pages-articles.xml.bz2"
SQUAD_BASE_URL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/"
SQUAD_FILES = {"1.1": ("train-v1.1.json", "dev-v1.1.json"), "2.0": ("train-v2.0.json", "dev-v2.0.json")}


class DownloadError(DataPrepError):
    """A download failed (offline, host unreachable, HTTP error, incomplete transfer)."""


def download(url: str, destination: str, timeout: float = 30.0, overwrite: bool = False,
             progress: bool = True) -> str:
    """Fetch ``url`` into ``destination`` (atomically). ``timeout`` bounds connecting and each read."""
    if os.path.exists(destination) and not overwrite:
        log.info("already there: %s", destination)
        return destination
    with storing(destination):
        os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "electra-data-prep/0.1"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = int(response.headers.get("Content-Length") or 0) or None
            from tqdm import tqdm
            received = 0
            with atomic_write(destination, "wb") as f:
                with tqdm(total=expected, unit="B", unit_scale=True, disable=not progress,
                          desc=os.path.basename(destination)) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        f.write(block)
                        received += len(block)
                        bar.update(len(block))
                if expected is not None and received != expected:
                    raise DownloadError(f"incomplete download of {url}: {received} of {expected} bytes")
    except urllib.error.HTTPError as e:
        raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"cannot download {url}: {reason}. This machine looks offline or cannot reach the host; download "
            f"the file on a machine with internet access and copy it to {destination}") from e
    return destination


def download_wikipedia(output_dir: str, language: str = "en", url: str | None = None, timeout: float = 30.0,
                       overwrite: bool = False, progress: bool = True) -> str:
    """The latest ``<lang>wiki-latest-pages-articles.xml.bz2`` (about 20 GB for English)."""
    url = url or WIKIPEDIA_URL.format(lang=language)
    return download(url, os.path.join(output_dir, url.rsplit("/", 1)[-1]), timeout, overwrite, progress)


def download_squad(output_dir: str, version: str = "1.1", base_url: str = SQUAD_BASE_URL, timeout: float = 30.0,
                   overwrite: bool = False, progress: bool = True) -> list[str]:
    """``train-v{version}.json`` and ``dev-v{version}.json``; checked to be SQuAD JSON (a ``data`` list)."""
    if version not in SQUAD_FILES:
        raise DataPrepError(f"unknown SQuAD version {version!r} (choose from {', '.join(SQUAD_FILES)})")
    paths = []
    for name in SQUAD_FILES[version]:
        path = download(base_url.rstrip("/") + "/" + name, os.path.join(output_dir, name), timeout, overwrite,
                        progress)
        try:
            with open(path, encoding="utf-8") as f:
                ok = isinstance(json.load(f).get("data"), list)
        except (OSError, ValueError, AttributeError):
            ok = False
        if not ok:
            os.remove(path)
            raise DownloadError(f"{name} from {base_url} is not SQuAD JSON (no 'data' list); removed it")
        paths.append(path)
    return paths


@dataclasses.dataclass(frozen=True)
class DownloadConfig:
    what: str = knob("", "wikipedia (a pages-articles dump, .xml.bz2) or squad (train and dev JSON).",
                     positional=True, choices=("wikipedia", "squad"))
    output_dir: str = knob("", "Where the files are written.", required=True)
    language: str = knob("en", "wikipedia: the dump's language.")
    url: str | None = knob(None, "wikipedia: another dump URL or mirror.")
    version: str = knob("1.1", "squad: the SQuAD version.", choices=tuple(sorted(SQUAD_FILES)))
    base_url: str = knob(SQUAD_BASE_URL, "squad: where the files are.")
    timeout: float = knob(30.0, "Seconds to connect / per read.", valid="> 0")
    overwrite: bool = knob(False, "Download again over existing files.")


def _run(c: DownloadConfig) -> None:
    if c.what == "wikipedia":
        paths = [download_wikipedia(c.output_dir, c.language, c.url, c.timeout, c.overwrite)]
    else:
        paths = download_squad(c.output_dir, c.version, c.base_url, c.timeout, c.overwrite)
    print("\n".join(paths))


COMMAND = Command("python -m data_prep.download", DownloadConfig, _run, __doc__, tensorflow=False)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
