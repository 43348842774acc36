"""The front end's files (server/pages.py): hashed, precompressed bundles with long-lived
caching, the plain names with ``no-cache`` and an ETag, and today's behaviour without a build
that wrote the hashed copies (issue 14). Served through the standalone host: the route table
is shared, tests/hosts/test_jupyter.py checks the Jupyter host."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import pytest

from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.server import pages

JS = b"export const bundle = 1;\n" * 200
CSS = b"body { margin: 0 }\n" * 20
HASHED_JS = "page.0123456789abcdef.js"
HASHED_CSS = "page.fedcba9876543210.css"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def static(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built front end in a scratch folder: plain names, hashed copies, their encodings
    (the .br one is only bytes to hand on: the server never decodes it), the manifest."""
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "page.js").write_bytes(JS)
    (folder / "page.css").write_bytes(CSS)
    (folder / "widget.js").write_bytes(JS)
    for name, data in ((HASHED_JS, JS), (HASHED_CSS, CSS)):
        (folder / name).write_bytes(data)
        (folder / f"{name}.gz").write_bytes(gzip.compress(data, 9))
        (folder / f"{name}.br").write_bytes(b"BR:" + name.encode())
    manifest = {"page.js": HASHED_JS, "page.css": HASHED_CSS}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(pages, "STATIC", folder)
    return folder


def get(path: str, **headers: str) -> tuple[int, Mapping[str, str], bytes]:
    """``GET path`` from a standalone host started for it (status, headers, raw body)."""
    return asyncio.run(_get(path, **headers))


async def _get(path: str, **headers: str) -> tuple[int, Mapping[str, str], bytes]:
    host = await start(port=0, runtime=False)
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            # aiohttp's client adds its own Accept-Encoding unless told one
            headers.setdefault("Accept-Encoding", "identity")
            async with session.get(host.url + path, headers=headers) as r:
                return r.status, r.headers.copy(), await r.read()
    finally:
        await host.close()


def test_the_shell_names_the_hashed_bundles(static: Path):
    html = pages.shell("/base/", game_id="g")  # view/g: every address relative to it
    assert f'<script type="module" src="../static/{HASHED_JS}"></script>' in html
    assert f'<link rel="stylesheet" href="../static/{HASHED_CSS}">' in html
    assert '<meta name="ccviz-base" content="../">' in html
    assert f'src="./static/{HASHED_JS}"' in pages.shell("/base/")  # the lobby, at the mount
    assert "static/page.js" not in html and "static/page.css" not in html


def test_a_hashed_bundle_is_sent_precompressed_and_cached_for_good(static: Path):
    status, headers, body = get(f"static/{HASHED_JS}", **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["Cache-Control"] == IMMUTABLE
    assert headers["Content-Type"].startswith("text/javascript")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert int(headers["Content-Length"]) == len(body) < len(JS)
    assert gzip.decompress(body) == JS

    # brotli first when both are accepted; q=0 refuses a coding
    _, headers, body = get(f"static/{HASHED_JS}", **{"Accept-Encoding": "gzip, br"})
    assert headers["Content-Encoding"] == "br" and body == b"BR:" + HASHED_JS.encode()
    _, headers, body = get(f"static/{HASHED_JS}", **{"Accept-Encoding": "br;q=0, gzip"})
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == JS

    # a client that takes neither gets the bytes as they are, still hashed and immutable
    _, headers, body = get(f"static/{HASHED_JS}")
    assert "Content-Encoding" not in headers and body == JS
    assert headers["Cache-Control"] == IMMUTABLE and headers["Vary"] == "Accept-Encoding"

    _, headers, body = get(f"static/{HASHED_CSS}", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Type"].startswith("text/css") and gzip.decompress(body) == CSS


def test_only_an_encoding_that_was_built_is_offered(static: Path):
    (static / f"{HASHED_JS}.br").unlink()
    _, headers, body = get(f"static/{HASHED_JS}", **{"Accept-Encoding": "br, gzip"})
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == JS


def test_the_plain_names_are_revalidated(static: Path):
    status, headers, body = get("static/page.js", **{"Accept-Encoding": "gzip"})
    assert status == 200 and body == JS and "Content-Encoding" not in headers
    assert headers["Cache-Control"] == "no-cache"
    etag = headers["ETag"]
    status, headers, body = get("static/page.js", **{"If-None-Match": etag})
    assert (status, body) == (304, b"")
    status, _, body = get("static/page.js", **{"If-None-Match": 'W/"other"'})
    assert (status, body) == (200, JS)
    assert (get("static/widget.js"))[2] == JS


def test_nothing_else_in_the_folder_is_served(static: Path):
    for name in ("manifest.json", f"{HASHED_JS}.gz", "page.1111111111111111.js", "nope.js"):
        assert (get(f"static/{name}"))[0] == 404, name


def test_without_the_hashed_copies_the_page_works_as_before(static: Path):
    (static / HASHED_JS).unlink()  # the manifest names a file that is gone: that entry is off
    html = pages.shell("/")
    assert '<script type="module" src="./static/page.js"></script>' in html
    assert f"./static/{HASHED_CSS}" in html
    assert (get(f"static/{HASHED_JS}"))[0] == 404

    (static / "manifest.json").unlink()  # a checkout built before the hashed copies existed
    html = pages.shell("/")
    assert 'src="./static/page.js"' in html and 'href="./static/page.css"' in html
    status, headers, body = get("static/page.js")
    assert (status, body, headers["Cache-Control"]) == (200, JS, "no-cache")

    (static / "manifest.json").write_text("not json")
    assert 'src="./static/page.js"' in pages.shell("/")

    shutil.rmtree(static)  # no build at all: the 503 that says how to build
    status, _, body = get("static/page.js")
    assert status == 503 and b"npm run build" in body


def test_accept_encoding_parsing():
    assert pages.accepted_encodings("gzip, deflate, br, zstd") == {"gzip", "deflate", "br", "zstd"}
    assert pages.accepted_encodings("GZIP;q=0.5, br;q=0") == {"gzip"}
    assert pages.accepted_encodings("br;q=bad") == set()
    assert pages.accepted_encodings(None) == set()


BUILT = pages.STATIC / "manifest.json"


@pytest.mark.skipif(not BUILT.exists(), reason="the front end is not built (npm run build)")
def test_the_build_writes_hashed_precompressed_bundles():
    manifest = json.loads(BUILT.read_text())
    assert set(manifest) == {"page.js", "page.css"}
    for name, hashed in manifest.items():
        plain = (pages.STATIC / name).read_bytes()
        assert re.fullmatch(r"page\.[0-9a-f]{16}\.(js|css)", hashed)
        assert (pages.STATIC / hashed).read_bytes() == plain
        assert gzip.decompress((pages.STATIC / f"{hashed}.gz").read_bytes()) == plain
    js = pages.STATIC / manifest["page.js"]
    assert (pages.STATIC / f"{js.name}.gz").stat().st_size < 450_000
    node = shutil.which("node")
    if node:  # Python has no brotli decoder here; node's zlib has one
        script = (
            "const z = require('node:zlib'), fs = require('node:fs');"
            "process.exit(z.brotliDecompressSync(fs.readFileSync(process.argv[1]))"
            ".equals(fs.readFileSync(process.argv[2])) ? 0 : 1)"
        )
        br = pages.STATIC / f"{js.name}.br"
        assert subprocess.run([node, "-e", script, str(br), str(js)], timeout=30).returncode == 0
