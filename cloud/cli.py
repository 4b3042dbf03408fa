"""`polc cloud serve`: run the cloud service."""

from __future__ import annotations

import argparse
import asyncio
import logging

from polc.cloud.config import load_config


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cloud_command", metavar="SUBCOMMAND", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the gRPC service (ingest, reconstruct, query; web console with --http-listen)",
        description="Run the cloud service. Without --config it starts on "
        "the embedded defaults (auth off, with a warning). Environment "
        "variables POLC_CLOUD_<FIELD> (nested: __) override the file.",
    )
    serve.add_argument("--config", metavar="FILE", help="YAML configuration file")
    serve.add_argument("--listen", metavar="HOST:PORT", help="gRPC address (overrides config)")
    serve.add_argument(
        "--metrics-listen", metavar="HOST:PORT", help="Prometheus /metrics address ('' = off)"
    )
    serve.add_argument(
        "--http-listen",
        metavar="HOST:PORT",
        help="web console and JSON API address (overrides config http.listen; default off)",
    )
    serve.add_argument("--store", metavar="DIR", help="store directory")
    serve.add_argument("--weights", metavar="FILE", help="codec weights (default: bundled)")
    serve.add_argument(
        "--check", action="store_true", help="validate the configuration, print it and exit"
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    config = load_config(
        args.config,
        {
            "listen": args.listen,
            "metrics_listen": args.metrics_listen,
            "http.listen": args.http_listen,
            "store.path": args.store,
            "codec.weights": args.weights,
        },
    )
    if args.check:
        print(config.model_dump_json(indent=2, exclude={"auth"}))
        return 0
    logging.getLogger("polc").setLevel(config.log_level.upper())
    from polc.cloud.server import serve  # command handler (rule a): torch, grpc

    asyncio.run(serve(config))
    return 0
