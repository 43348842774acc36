"""The Jupyter server extension: the server core in Jupyter's own tornado loop.

``jupyter lab`` / ``jupyter notebook`` / ``jupyter server`` load it on their own (the package
ships ``jupyter_server_config.d/ccviz_kernel.json``) and serve, under ``{base_url}ccviz/``:

=====================================  ====================================================
``socket.io/``                         the socket.io server (websocket transport only)
``api/hooks`` (POST)                   Claude Code's hooks: the ingest token, not Jupyter auth
``api/games``, ``api/games/<id>``      the lobby and a game's snapshot (JSON)
``api/games/<id>/events``              the game's events as table rows (JSON)
``healthz``                            liveness, number of live games and viewers
``""`` and ``view/<id>``               the viewer page; ``static/<name>`` its bundle
=====================================  ====================================================

Who gets in (docs/design.md §6):

* Every handler here is a ``JupyterHandler`` and every method is decorated: Jupyter lets an
  undecorated handler through unless ``ServerApp.allow_unauthenticated_access`` is off, so
  each one says what it needs. Jupyter's own identity provider (token, cookie, JupyterHub)
  and authorizer (resource ``"ccviz"``) decide; the API, static and health routes answer
  403 without credentials, the HTML pages redirect to Jupyter's login page as Jupyter's
  own pages do.
* ``api/hooks`` is the one route open to requests without Jupyter credentials: Claude
  Code's hook runs outside any browser session and has none. It is marked
  ``@allow_unauthenticated`` and checks the ingest token (``Authorization: Bearer``) itself.
  It skips Jupyter's XSRF check, which exists to stop a foreign page from riding on the
  browser's Jupyter *cookie*: this route ignores cookies and Jupyter identity entirely,
  and the bearer header it needs is one that a foreign page cannot send without a CORS
  preflight, which this route never grants.
* ``socket.io/``: a Jupyter user gets the **controller** role (``viewer`` when Jupyter's
  authorizer allows ``read`` but not ``write`` on ``"ccviz"``; refused with 403 at the
  handshake when it allows neither). A kernel has no Jupyter credentials, so a
  connection may also prove itself with the ingest token in the socket.io ``CONNECT``
  packet (``auth={"token": ...}``), which only arrives after the websocket upgrade: the
  upgrade is therefore allowed without Jupyter credentials (still behind Jupyter's Host and
  Origin checks), the ``CONNECT`` without either credential is refused, and such a
  websocket is closed unless a socket.io connection on it was accepted within
  :data:`AUTH_GRACE` seconds. Long-polling is off (Jupyter's XSRF check would refuse its
  POSTs), and so is per-message deflate (tornado's engine.io handler turns it on).

The runtime file points ``ccviz hook`` and ``ccviz install-hooks`` here while Jupyter runs;
the extension's ``stop_extension`` hook removes it, stops the server and closes the store.

Fan-out: room broadcasts go as pre-built frames straight to each viewer's tornado stream
(:mod:`ccviz_kernel.hosts._tornado`), through Engine.IO's queue whenever that stream is not
ready for one.

The parts: :mod:`.app` (the ``ExtensionApp``, :class:`Running`, :func:`current`),
:mod:`.handlers` (the HTTP handlers, built from :mod:`ccviz_kernel.server.routes`),
:mod:`.socket` (the socket.io websocket handler and the socket.io role).
"""

from __future__ import annotations

from typing import Any

from .app import MOUNT, CcvizExtension, Running, current, local_url
from .handlers import jupyter_or_ingest, path_regex, rules
from .socket import AUTH_GRACE, AUTH_RESOURCE, SocketHandler, role_check

__all__ = [
    "AUTH_GRACE",
    "AUTH_RESOURCE",
    "MOUNT",
    "CcvizExtension",
    "Running",
    "SocketHandler",
    "current",
    "jupyter_or_ingest",
    "local_url",
    "path_regex",
    "role_check",
    "rules",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": __name__, "app": CcvizExtension}]


def _load_jupyter_server_extension(serverapp: Any) -> CcvizExtension:
    """Load into ``serverapp`` (Jupyter calls :class:`CcvizExtension`'s loader itself)."""
    return CcvizExtension._load_jupyter_server_extension(serverapp)
