"""The offline visdom server: its assets, its pages, plots read back, and a real browser drawing.

Every test talks to a real server (the ``visdom_server`` fixture in conftest.py). The browser
test needs Debian's ``chromium`` and ``chromium-driver``; it saves a screenshot to
``test-artifacts/visdom_dashboard.png``.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import numpy as np
import pytest
from conftest import VisdomServer, free_port, skip_or_fail, stop_server

from memagents.plotting import Plotter
from memagents.visdom_server import (
    ASSETS,
    VERSION_MARKER,
    install_assets,
    missing_assets,
    server_url,
    wait_for_server,
)

pytestmark = pytest.mark.visdom
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def client(server: VisdomServer, env: str):
    import visdom

    return visdom.Visdom(
        server=server.server,
        port=server.port,
        env=env,
        raise_exceptions=True,
        use_incoming_socket=False,
    )


def traces(server: VisdomServer, env: str, win: str) -> list[dict]:
    return json.loads(client(server, env).get_window_data(win, env))["content"]["data"]


def visdom_download_list() -> set[str]:
    """The files ``visdom.server.build.download_scripts`` would download, under ``static/``."""
    from visdom.server import build

    tree = ast.parse(inspect.getsource(build.download_scripts))
    names: dict[str, ast.expr] = {
        node.targets[0].id: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    targets = set()
    for value in names["ext_files"].values:
        file_name = value.value
        if file_name.endswith((".js", ".js.map")):
            targets.add(f"js/{file_name}")
        elif file_name.endswith(".css"):
            targets.add(f"css/{file_name}")
        else:
            targets.add(f"fonts/{file_name}")
    for element in names["mathjax_path"].elts:
        targets.add("js/mathjax/2.7.5/" + element.value.split("?")[0])
    return targets


def test_asset_table_is_visdoms_download_list():
    ours = {asset.target for asset in ASSETS}
    theirs = visdom_download_list()
    assert len(theirs) == 29
    # Plus the SVG font under the name browsers ask for (visdom saves it with its URL fragment).
    assert ours - theirs == {"fonts/glyphicons-halflings-regular.svg"}
    assert theirs <= ours


def test_assets_installed_with_the_expected_versions(visdom_assets):
    import visdom

    assert missing_assets() == []
    assert (visdom_assets / VERSION_MARKER).read_text().strip() == visdom.__version__
    banners = {
        "js/jquery.min.js": b"jQuery v3.1.1",
        "js/bootstrap.min.js": b"Bootstrap v3.3.7",
        "css/bootstrap.min.css": b"Bootstrap v3.3.7",
        "js/react-react.min.js": b"React v16.2.0",
        "js/react-dom.min.js": b"React v16.2.0",
        "js/plotly-plotly.min.js": b"plotly.js v2.11.1",
        "js/d3.v3.min.js": b'version:"3.5.17"',
        "js/mathjax/2.7.5/MathJax.js": b"2.7.5",
    }
    for target, banner in banners.items():
        assert banner in (visdom_assets / target).read_bytes(), target
    for asset in ASSETS:
        assert (visdom_assets / asset.target).stat().st_size > 100, asset.target


def test_missing_assets_notices_a_missing_file_and_a_stale_marker(visdom_assets, tmp_path):
    static = tmp_path / "static"
    shutil.copytree(visdom_assets, static)
    assert missing_assets(static) == []
    (static / "js/jquery.min.js").unlink()
    (static / VERSION_MARKER).write_text("0.0.1")
    assert missing_assets(static) == ["js/jquery.min.js", VERSION_MARKER]


@pytest.mark.slow
def test_install_assets_into_an_empty_folder(tmp_path):
    pytest.importorskip("visdom")
    if shutil.which("npm") is None:
        skip_or_fail("npm not found")
    static = install_assets(static=tmp_path)
    assert missing_assets(static) == []
    marker_time = (static / VERSION_MARKER).stat().st_mtime_ns
    install_assets(static=static)  # installed: nothing to do
    assert (static / VERSION_MARKER).stat().st_mtime_ns == marker_time


class _References(HTMLParser):
    """Collects the src/href of <script> and <link> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if tag in ("script", "link") and name in ("src", "href") and value:
                self.urls.append(value)


def test_every_file_the_dashboard_references_is_served(visdom_server):
    status, page = fetch(visdom_server.url + "/env/main")
    assert status == 200
    parser = _References()
    parser.feed(page.decode())
    urls = {urljoin(visdom_server.url + "/env/main", url) for url in parser.urls}
    # The fonts bootstrap.min.css asks for, relative to the stylesheet.
    css_url = next(url for url in urls if "bootstrap.min.css" in url)
    status, css = fetch(css_url)
    assert status == 200
    fonts = set(re.findall(r"url\(([^)]+)\)", css.decode()))
    urls |= {urljoin(css_url, font.strip("'\"")) for font in fonts}
    assert len(urls) >= 20
    host = urlparse(visdom_server.url).netloc
    for url in sorted(urls):
        assert urlparse(url).netloc == host, f"{url} is not on the local server"
        status, body = fetch(url.split("#")[0])
        assert status == 200, url
        if "/static/" in url:  # (/user/style.css is the user's own CSS: empty by default)
            assert body, url


def test_plotter_curves_and_heatmaps_read_back(visdom_server):
    env = "test-read-back"
    plotter = Plotter(env, "unused", server=visdom_server.server, port=visdom_server.port)
    assert plotter.connected
    for step in range(5):
        plotter.line("loss", 10 * step, {"train": 1.0 / (step + 1)}, title="loss (bits)")
    plotter.line("loss", 40, {"eval": 0.5})
    plotter.line("loss", 50, {"train": 0.125, "eval": 0.25})
    memory = np.arange(12.0).reshape(3, 4)
    plotter.heatmap("memory", memory, title="memory")
    plotter.heatmap("memory", -memory, title="memory")

    vis = client(visdom_server, env)
    assert vis.win_exists("loss", env) and vis.win_exists("memory", env)
    assert not vis.win_exists("nothing", env)
    by_name = {trace["name"]: trace for trace in traces(visdom_server, env, "loss")}
    assert set(by_name) == {"train", "eval"}
    assert by_name["train"]["x"] == [0, 10, 20, 30, 40, 50]
    np.testing.assert_allclose(by_name["train"]["y"], [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 0.125])
    assert by_name["eval"]["x"] == [40, 50]
    assert by_name["eval"]["y"] == [0.5, 0.25]
    (heatmap,) = traces(visdom_server, env, "memory")
    np.testing.assert_array_equal(heatmap["z"], -memory)


def test_cli_serves_the_dashboard(visdom_assets, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "scripts/visdom_server.py", "--port", str(port)]
        + ["--env-path", str(tmp_path / "envs")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_server(server_url(port), timeout=30.0, process=process)
        status, body = fetch(server_url(port) + "/static/js/plotly-plotly.min.js")
        assert status == 200 and b"plotly.js v2.11.1" in body[:1000]
    finally:
        stop_server(process)
    output = process.stdout.read().decode()
    assert f"http://localhost:{port}" in output
    assert "Downloading" not in output and "Checking for scripts" not in output


def chrome(user_data_dir: Path):
    """A headless Chromium driven by the system chromedriver; skip (or fail) if one is missing."""
    chromium = os.environ.get("MEMAGENTS_CHROMIUM", "/usr/bin/chromium")
    chromedriver = os.environ.get("MEMAGENTS_CHROMEDRIVER", "/usr/bin/chromedriver")
    for path, package in ((chromium, "chromium"), (chromedriver, "chromium-driver")):
        if not os.access(path, os.X_OK):
            skip_or_fail(f"{path} not found: apt-get install chromium chromium-driver ({package})")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip_or_fail("selenium is not installed (pip install -e .[dev])")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,900",
        f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


# Plotly attaches the figure's data to its div; read back what the page holds and drew.
_DRAWN = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
  title: (gd.layout && gd.layout.title && (gd.layout.title.text || gd.layout.title)) || '',
  traces: (gd.data || []).map(t => ({type: t.type || 'scatter', name: t.name || '',
                                     x: t.x || null, y: t.y || null, z: t.z || null})),
  lines: Array.from(gd.querySelectorAll('.scatterlayer path.js-line'))
              .filter(p => (p.getAttribute('d') || '').length > 10).length,
  heatmaps: gd.querySelectorAll('.heatmaplayer image').length,
}));
"""


@pytest.mark.browser
def test_browser_draws_the_plots_offline(visdom_server, tmp_path):
    env = "test-browser"
    plotter = Plotter(env, tmp_path / "png", server=visdom_server.server, port=visdom_server.port)
    for step in range(6):
        plotter.line("loss", step, {"train": 6.0 - step, "eval": 7.0 - step}, title="loss")
    plotter.heatmap("memory", np.arange(20.0).reshape(4, 5), title="memory")

    driver = chrome(tmp_path / "chromium-profile")
    try:
        driver.get(f"{visdom_server.url}/env/{env}")
        deadline, drawn = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            drawn = driver.execute_script(_DRAWN)
            if len(drawn) == 2 and all(plot["lines"] or plot["heatmaps"] for plot in drawn):
                break
            time.sleep(0.2)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "visdom_dashboard.png"))
        requests = _requests(driver.get_log("performance"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()

    by_title = {plot["title"]: plot for plot in drawn}
    assert set(by_title) == {"loss", "memory"}, drawn
    loss = by_title["loss"]
    assert loss["lines"] == 2
    lines = {trace["name"]: trace for trace in loss["traces"]}
    assert lines["train"]["x"] == [0, 1, 2, 3, 4, 5]
    assert lines["train"]["y"] == [6, 5, 4, 3, 2, 1]
    assert lines["eval"]["y"] == [7, 6, 5, 4, 3, 2]
    memory = by_title["memory"]
    assert memory["heatmaps"] == 1
    assert memory["traces"][0]["type"] == "heatmap"
    assert memory["traces"][0]["z"] == np.arange(20.0).reshape(4, 5).tolist()

    # Offline: the page asked nothing of any other host, and everything it asked for came.
    host = urlparse(visdom_server.url).netloc
    assert requests, "no network events recorded"
    for url, status in requests.items():
        if urlparse(url).scheme not in ("http", "https", "ws", "wss"):
            continue  # data:, blob:, and the browser's own chrome:// pages
        assert urlparse(url).netloc == host, f"the dashboard requested {url}"
        assert status is None or status < 400, f"{url}: HTTP {status}"
    assert not errors, errors


def _requests(performance_log: list[dict]) -> dict[str, int | None]:
    """{url: HTTP status (None: no response seen, e.g. a websocket)} from Chrome's network log."""
    seen: dict[str, int | None] = {}
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            seen.setdefault(params["request"]["url"], None)
        elif message["method"] == "Network.responseReceived":
            seen[params["response"]["url"]] = params["response"]["status"]
    return seen


@pytest.mark.slow
@pytest.mark.browser
def test_the_readme_picture_script_draws_every_test_window(visdom_assets, tmp_path):
    chrome(tmp_path / "probe").quit()  # skip (or fail in CI) without Chromium
    out = tmp_path / "visdom_test_mode.png"
    result = subprocess.run(
        [sys.executable, "scripts/visdom_screenshot.py", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "6 windows of env ntm-copy-test" in result.stdout
    from matplotlib.image import imread

    image = (imread(out)[..., :3] * 255).round()
    assert image.shape[1] == 1280 and image.shape[0] > 700
    viridis_high = np.abs(image - np.array([253, 231, 37])).max(axis=-1) <= 3
    assert viridis_high.sum() > 1000  # the heatmaps are drawn
