"""Downloads: offline failure is fast and clear (closed loopback port), success through a loopback server.
Nothing here leaves this machine."""
import functools
import http.server
import json
import socket
import threading
import time

import pytest

from data_prep.download import DownloadError, download, download_squad, download_wikipedia


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_fails_fast_with_a_clear_message(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/enwiki-latest-pages-articles.xml.bz2"
    start = time.monotonic()
    with pytest.raises(DownloadError, match="looks offline or cannot reach the host.*copy it to"):
        download_wikipedia(str(tmp_path), url=url, timeout=2, progress=False)
    with pytest.raises(DownloadError, match="cannot download .*train-v2.0.json"):
        download_squad(str(tmp_path), "2.0", base_url=f"http://127.0.0.1:{_closed_port()}/", timeout=2,
                       progress=False)
    assert time.monotonic() - start < 10
    assert list(tmp_path.iterdir()) == []                       # nothing partial left behind


@pytest.fixture
def loopback_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_and_squad_check_through_loopback(tmp_path, loopback_server):
    root, base = loopback_server
    for name in ("train-v1.1.json", "dev-v1.1.json"):
        (root / name).write_text(json.dumps({"version": "1.1", "data": []}), encoding="utf-8")
    out = tmp_path / "squad"
    paths = download_squad(str(out), "1.1", base_url=base, timeout=5, progress=False)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["train-v1.1.json", "dev-v1.1.json"]
    assert sorted(p.name for p in out.iterdir()) == ["dev-v1.1.json", "train-v1.1.json"]
    (root / "train-v2.0.json").write_text("<html>not json</html>", encoding="utf-8")
    with pytest.raises(DownloadError, match="not SQuAD JSON"):
        download_squad(str(out), "2.0", base_url=base, timeout=5, progress=False)
    assert not (out / "train-v2.0.json").exists()
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(base + "missing.bin", str(tmp_path / "missing.bin"), timeout=5, progress=False)
    assert not (tmp_path / "missing.bin").exists()
    # an existing file is kept, not fetched again
    kept = tmp_path / "keep.bin"
    kept.write_bytes(b"old")
    assert download(base + "missing.bin", str(kept), timeout=5, progress=False) == str(kept)
    assert kept.read_bytes() == b"old"
