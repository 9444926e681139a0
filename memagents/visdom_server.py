"""A visdom server that works offline.

visdom 0.2.4 ships its Python server and its own ``main.js`` bundle, but not the third-party web
assets its dashboard loads (jQuery, Bootstrap, React, Plotly, d3, MathJax, ...). Its usual entry
point, ``python -m visdom.server``, calls ``visdom.server.build.download_scripts`` first, which
fetches them from CDNs (unpkg.com, cdn.plot.ly, d3js.org, cdnjs.cloudflare.com) into visdom's
``static/`` folder. Without internet access that fails and the dashboard stays blank.

This module does the same job from the npm registry instead, once per installation of visdom:

1. ``install_assets()`` runs ``npm pack`` for the exact package versions that
   ``download_scripts`` names, and copies the exact files it would have downloaded into
   ``visdom/static/{js,css,fonts}`` under the same names. It then writes ``static/version.built``
   (visdom's own marker), so that even a plain ``python -m visdom.server`` finds every file and
   downloads nothing.
2. ``start_server()`` calls ``visdom.server.run_server.start_server`` directly, which never calls
   ``download_scripts``.

Only the standard library is imported at module level: ``visdom`` is imported when needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8097
DEFAULT_HOST = "localhost"
DEFAULT_ENV_PATH = Path.home() / ".visdom"
"""Where the server keeps its environments (visdom's default)."""


class Asset(NamedTuple):
    """One file of one npm package, and where visdom's dashboard expects it."""

    package: str
    """npm package name."""
    version: str
    """Exact version: the one visdom 0.2.4's ``download_scripts`` fetches from the CDN."""
    source: str
    """Path inside the package (the npm tarball's ``package/`` folder)."""
    target: str
    """Path under visdom's ``static/`` folder, as ``download_scripts`` names it."""


_BOOTSTRAP_FONT = "glyphicons-halflings-regular"
_MATHJAX = ("mathjax", "2.7.5")
# The files `download_scripts` fetches from cdnjs; the dashboard loads MathJax.js and the config.
_MATHJAX_FILES = (
    "MathJax.js",
    "config/Safe.js",
    "config/TeX-AMS-MML_HTMLorMML.js",
    "extensions/Safe.js",
    "jax/output/SVG/config.js",
    "jax/output/SVG/jax.js",
    "jax/output/SVG/fonts/TeX/fontdata.js",
    "jax/output/SVG/fonts/TeX/Size1/Regular/Main.js",
)

ASSETS: tuple[Asset, ...] = (
    # js
    Asset("jquery", "3.1.1", "dist/jquery.min.js", "js/jquery.min.js"),
    Asset("bootstrap", "3.3.7", "dist/js/bootstrap.min.js", "js/bootstrap.min.js"),
    Asset("react", "16.2.0", "umd/react.production.min.js", "js/react-react.min.js"),
    Asset("react-dom", "16.2.0", "umd/react-dom.production.min.js", "js/react-dom.min.js"),
    Asset("react-modal", "3.1.10", "dist/react-modal.min.js", "js/react-modal.min.js"),
    # cdn.plot.ly/plotly-2.11.1.min.js is the same build as this package's only file.
    Asset("plotly.js-dist-min", "2.11.1", "plotly.min.js", "js/plotly-plotly.min.js"),
    Asset("sjcl", "1.0.7", "sjcl.js", "js/sjcl.js"),
    Asset("layout-bin-packer", "1.4.0", "dist/layout-bin-packer.js", "js/layout_bin_packer.js"),
    Asset(
        "layout-bin-packer", "1.4.0", "dist/layout-bin-packer.js.map", "js/layout-bin-packer.js.map"
    ),
    # d3js.org/d3.v3.min.js and d3js.org/d3-selection-multi.v1.js: the last v3 and v1 releases.
    Asset("d3", "3.5.17", "d3.min.js", "js/d3.v3.min.js"),
    Asset(
        "d3-selection-multi", "1.0.1", "build/d3-selection-multi.js", "js/d3-selection-multi.v1.js"
    ),
    Asset("save-svg-as-png", "1.4.17", "lib/saveSvgAsPng.js", "js/saveSvgAsPng.js"),
    # css
    Asset("react-resizable", "1.4.6", "css/styles.css", "css/react-resizable-styles.css"),
    Asset("react-grid-layout", "0.16.3", "css/styles.css", "css/react-grid-layout-styles.css"),
    Asset("bootstrap", "3.3.7", "dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
    # fonts (download_scripts files anything that is neither .js nor .css under fonts/)
    Asset("classnames", "2.2.5", "index.js", "fonts/classnames"),
    *(
        Asset(
            "bootstrap",
            "3.3.7",
            f"dist/fonts/{_BOOTSTRAP_FONT}.{ext}",
            f"fonts/{_BOOTSTRAP_FONT}.{ext}",
        )
        for ext in ("eot", "woff2", "woff", "ttf", "svg")
    ),
    # download_scripts saves the SVG font under its URL's name, fragment included; with this file
    # present it does not try to fetch it again. Browsers ask for the name without the fragment.
    Asset(
        "bootstrap",
        "3.3.7",
        f"dist/fonts/{_BOOTSTRAP_FONT}.svg",
        f"fonts/{_BOOTSTRAP_FONT}.svg#glyphicons_halflingsregular",
    ),
    *(Asset(*_MATHJAX, path, f"js/mathjax/2.7.5/{path}") for path in _MATHJAX_FILES),
)
"""Every file that visdom 0.2.4's ``download_scripts`` fetches, and its npm package."""

VERSION_MARKER = "version.built"
"""visdom's marker in ``static/``: when it holds visdom's version, no file is downloaded again."""


def static_dir() -> Path:
    """Return visdom's ``static`` folder: the server serves it and ``index.html`` lives there."""
    from visdom.utils.shared_utils import get_visdom_path

    return Path(get_visdom_path("static"))


def _visdom_version() -> str:
    import visdom

    return visdom.__version__


def missing_assets(static: Path | None = None) -> list[str]:
    """Return what stops the dashboard from working offline: missing files, a stale marker.

    An empty list means the assets are installed.
    """
    static = static_dir() if static is None else static
    missing = [asset.target for asset in ASSETS if not (static / asset.target).is_file()]
    marker = static / VERSION_MARKER
    if not marker.is_file() or marker.read_text().strip() != _visdom_version():
        missing.append(VERSION_MARKER)
    return missing


def assets_installed(static: Path | None = None) -> bool:
    """Whether every asset is in place and visdom's marker says so."""
    return not missing_assets(static)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if absent): one installer at a time."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm_pack(specs: Sequence[str], destination: Path, npm: str) -> dict[str, Path]:
    """Fetch npm tarballs with ``npm pack``; return ``{"name@version": tarball}``."""
    executable = shutil.which(npm)
    if executable is None:
        raise RuntimeError(
            f"`{npm}` not found: the visdom web assets come from the npm registry. Install Node.js "
            "and npm (Debian: `apt-get install nodejs npm`), or pass the npm executable."
        )
    # --prefer-offline: packages already in npm's cache are not fetched again.
    command = [
        executable,
        "pack",
        "--json",
        "--prefer-offline",
        "--pack-destination",
        str(destination),
    ]
    command += specs
    result = subprocess.run(
        command, cwd=destination, capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`npm pack` failed (exit {result.returncode}) for {' '.join(specs)}:\n"
            + result.stderr[-2000:]
        )
    packed = json.loads(result.stdout)
    return {f"{item['name']}@{item['version']}": destination / item["filename"] for item in packed}


def _member(archive: tarfile.TarFile, source: str) -> tarfile.TarInfo:
    """Find `source` in an npm tarball, whatever its top folder is called (usually ``package``)."""
    for member in archive.getmembers():
        if member.isfile() and member.name.split("/", 1)[-1] == source:
            return member
    raise FileNotFoundError(f"{source} not in {archive.name}")


def install_assets(force: bool = False, npm: str = "npm", static: Path | None = None) -> Path:
    """Install visdom's web assets from the npm registry into its static folder, once.

    Does nothing when ``assets_installed()`` already (unless `force`). Safe to call from several
    processes at once: a file lock serialises them and the second finds the work done. Files are
    written atomically and visdom's marker last, so an interrupted install is redone next time.

    Args:
        force: fetch and copy everything again.
        npm: the npm executable.
        static: visdom's static folder (default: the installed visdom's).

    Returns:
        The static folder.
    """
    static = static_dir() if static is None else static
    if not os.access(static, os.W_OK):
        raise PermissionError(
            f"visdom's static folder {static} is not writable: run the install once as its owner "
            "(`python scripts/visdom_server.py --install-only`)."
        )
    with _locked(static / ".memagents-assets.lock"):
        if not force and assets_installed(static):
            logger.info("visdom assets already installed in %s", static)
            return static
        start = time.monotonic()
        specs = sorted({f"{asset.package}@{asset.version}" for asset in ASSETS})
        logger.info("Fetching %d npm packages for visdom's dashboard", len(specs))
        with tempfile.TemporaryDirectory(prefix="visdom-assets-") as tmp:
            tarballs = _npm_pack(specs, Path(tmp), npm)
            for spec in specs:
                if spec not in tarballs:
                    raise RuntimeError(f"`npm pack` did not return {spec}: got {sorted(tarballs)}")
                with tarfile.open(tarballs[spec]) as archive:
                    for asset in ASSETS:
                        if f"{asset.package}@{asset.version}" != spec:
                            continue
                        data = archive.extractfile(_member(archive, asset.source)).read()
                        _write_atomic(static / asset.target, data)
        _write_atomic(static / VERSION_MARKER, _visdom_version().encode())
        logger.info(
            "Installed %d visdom assets in %s (%.1f s)",
            len(ASSETS),
            static,
            time.monotonic() - start,
        )
    return static


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def server_url(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> str:
    """The dashboard's URL."""
    return f"http://{host}:{port}"


def visdom_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a visdom server answers at `url` (its dashboard page), within `timeout` seconds."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=timeout) as response:
            return response.status == 200 and b"visdom" in response.read(1 << 16)
    except (OSError, ValueError):  # URLError, ConnectionError and timeouts are OSErrors
        return False


def wait_for_server(
    url: str, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    """Wait until a visdom server answers at `url`; raise if it does not within `timeout` s.

    If `process` (the server's) exits first, raise at once instead of waiting.
    """
    deadline = time.monotonic() + timeout
    while not visdom_answers(url, timeout=1.0):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"visdom server exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no visdom server answered at {url} within {timeout:.0f} s")
        time.sleep(0.1)


def start_server(
    port: int = DEFAULT_PORT,
    env_path: Path | str = DEFAULT_ENV_PATH,
    bind_all: bool = False,
    install: bool = True,
) -> None:
    """Run a visdom server in this process until it is interrupted; never touch a CDN.

    Args:
        port: TCP port.
        env_path: where the server saves and reloads environments.
        bind_all: listen on every interface; by default only on 127.0.0.1 (reach a remote machine's
            dashboard through an SSH tunnel).
        install: install the web assets first if they are missing (see ``install_assets``);
            if False and they are missing, raise.
    """
    if not assets_installed():
        if not install:
            raise RuntimeError(
                "visdom's web assets are missing: " + ", ".join(missing_assets()[:5]) + "; run "
                "`python scripts/visdom_server.py --install-only`."
            )
        install_assets()
    from visdom.server.run_server import start_server as run_visdom

    _configure_visdom_app()
    env_path = Path(env_path)
    env_path.mkdir(parents=True, exist_ok=True)
    logger.info("visdom environments in %s", env_path)
    # As visdom's own main() does: routes are base_url + "/events", so the root is "", not "/"; and
    # env_path is joined with os.path.join in some places and string concatenation in others.
    run_visdom(
        port=port,
        base_url="",
        hostname=DEFAULT_HOST,
        env_path=str(env_path) + os.sep,
        bind_local=not bind_all,
    )


def _configure_visdom_app() -> None:
    """Adjust visdom's tornado settings (a module-level dict) in this process only.

    - visdom's ``index.html`` asks for ``static_url("../user/style.css")``; since tornado 6.6 a
      static path outside the static folder raises 403 while rendering, so the dashboard page
      itself fails. A handler that gives such paths no version hash renders it as before
      (``/static/../user/style.css``, which the browser resolves to visdom's ``/user/style.css``).
    - visdom turns tornado's debug mode on, which restarts the server whenever an imported Python
      file changes; a dashboard should not restart because code was edited.
    """
    import tornado.web
    from visdom.server import app

    class StaticFileHandler(tornado.web.StaticFileHandler):
        @classmethod
        def get_version(cls, settings: dict, path: str) -> str | None:
            try:
                return super().get_version(settings, path)
            except tornado.web.HTTPError:
                return None

    app.tornado_settings["static_handler_class"] = StaticFileHandler
    app.tornado_settings["autoreload"] = False


__all__ = [
    "ASSETS",
    "Asset",
    "assets_installed",
    "install_assets",
    "missing_assets",
    "server_url",
    "start_server",
    "static_dir",
    "visdom_answers",
    "wait_for_server",
]
