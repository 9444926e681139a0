"""Take the README's picture of scripts/test.py in the visdom dashboard (docs/visdom_test_mode.png).

    python scripts/visdom_screenshot.py
    python scripts/visdom_screenshot.py --checkpoint checkpoints/dnc-copy.pt --out /tmp/dnc.png

Starts an offline visdom server (scripts/visdom_server.py) on a free local port with its envs in a
temporary folder, runs `scripts/test.py --checkpoint <file> --lengths <length>` against it, opens
that env's dashboard page in headless Chromium, waits until every window is drawn and saves a
screenshot. Needs Debian's `chromium` and `chromium-driver`, and selenium (the `dev` extra).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memagents.plotting import visdom_env_name
from memagents.visdom_server import server_url, wait_for_server

REPO = Path(__file__).resolve().parents[1]

# Plotly attaches a figure's data to its div: count the windows drawn (a line or a heatmap image).
_DRAWN = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd =>
  gd.querySelectorAll('.heatmaplayer image').length
  || gd.querySelectorAll('.scatterlayer path.js-line').length).length;
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chrome(profile: Path, width: int, height: int):
    """Headless Chromium through the system chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("MEMAGENTS_CHROMIUM", "/usr/bin/chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--hide-scrollbars",
        "--no-first-run",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = os.environ.get("MEMAGENTS_CHROMEDRIVER", "/usr/bin/chromedriver")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="checkpoints/ntm-copy.pt")
    parser.add_argument("--length", type=int, default=20, help="the episode's sequence length")
    parser.add_argument("--out", default="docs/visdom_test_mode.png")
    parser.add_argument("--width", type=int, default=1280, help="browser window width (pixels)")
    parser.add_argument("--height", type=int, default=960, help="browser window height (pixels)")
    args = parser.parse_args(argv)

    checkpoint = Path(args.checkpoint)
    env = visdom_env_name(f"{checkpoint.stem}-test")  # what scripts/test.py names it
    port = free_port()
    url = server_url(port)
    with tempfile.TemporaryDirectory(prefix="visdom-screenshot-") as tmp:
        tmp = Path(tmp)
        server = subprocess.Popen(
            [sys.executable, "scripts/visdom_server.py", "--port", str(port)]
            + ["--env-path", str(tmp / "envs")],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_server(url, timeout=60.0, process=server)
            tested = subprocess.run(
                [sys.executable, "scripts/test.py", "--checkpoint", str(checkpoint)]
                + ["--lengths", str(args.length), "--visdom-port", str(port)]
                + ["--out", str(tmp / "pngs")],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
            drawn = re.search(r"^(\d+) pictures in .*; visdom: ", tested.stdout, re.MULTILINE)
            if tested.returncode != 0 or drawn is None:
                print(tested.stdout[-2000:] + tested.stderr[-2000:], file=sys.stderr)
                print("error: scripts/test.py did not plot into the server", file=sys.stderr)
                return 1
            windows = int(drawn.group(1))
            driver = chrome(tmp / "chromium", args.width, args.height)
            try:
                driver.get(f"{url}/env/{env}")
                deadline = time.monotonic() + 60
                while driver.execute_script(_DRAWN) < windows:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the dashboard drew fewer than {windows} windows")
                    time.sleep(0.2)
                time.sleep(1.0)  # let the last frame paint
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.out))
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"wrote {args.out}: {windows} windows of env {env} ({args.width} x {args.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
