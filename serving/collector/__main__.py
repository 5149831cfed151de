"""Run the collector: `python -m kubeloop.serving.collector --port 8080` (logs under $KUBELOOP_HOME)."""

from __future__ import annotations

import argparse

from aiohttp import web

from kubeloop.labels.store import LocalLabelStore
from kubeloop.predlog.store import LogStore
from kubeloop.serving.collector.app import Collector, build_app
from kubeloop.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="kubeloop-collector", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-mirrors", type=int, default=64, help="concurrent shadow replays at most")
    args = parser.parse_args(argv)
    settings = load_settings().ensure_dirs()
    store = LogStore(settings.logs_dir)
    labels = LocalLabelStore.from_settings(settings)
    try:
        web.run_app(
            build_app(Collector(write=store.write, max_mirrors=args.max_mirrors, labels=labels)),
            host=args.host,
            port=args.port,
            print=None,
        )
    finally:
        store.close()


if __name__ == "__main__":
    main()
