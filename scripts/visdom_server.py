"""Start a visdom server that needs no internet: its web assets come from the npm registry, once.

    python scripts/visdom_server.py                  # install the assets if missing, serve on 8097
    python scripts/visdom_server.py --port 8098 --env-path runs/visdom
    python scripts/visdom_server.py --install-only   # fetch the assets (needs npm), then exit
    python scripts/visdom_server.py --install-only --force   # fetch them again

Then open http://localhost:8097 . See memagents/visdom_server.py for what is installed and why.
"""

from __future__ import annotations

import argparse
import logging
import sys

from memagents.visdom_server import (
    DEFAULT_ENV_PATH,
    DEFAULT_PORT,
    install_assets,
    missing_assets,
    start_server,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 8097)")
    parser.add_argument(
        "--env-path",
        default=str(DEFAULT_ENV_PATH),
        help="folder where environments are saved (default ~/.visdom)",
    )
    parser.add_argument(
        "--bind-all",
        action="store_true",
        help="listen on every interface, not only 127.0.0.1",
    )
    parser.add_argument(
        "--install-only", action="store_true", help="install the web assets, do not serve"
    )
    parser.add_argument("--force", action="store_true", help="reinstall the web assets")
    parser.add_argument("--npm", default="npm", help="npm executable (default: npm on PATH)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.force or missing_assets():
        install_assets(force=args.force, npm=args.npm)
    if args.install_only:
        print("visdom web assets installed.")
        return 0
    print(f"visdom dashboard: http://localhost:{args.port}", flush=True)
    try:
        start_server(port=args.port, env_path=args.env_path, bind_all=args.bind_all, install=False)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
