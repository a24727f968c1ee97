"""Command-line options the side-by-side tools share (variants, in-process, instructions)."""

from __future__ import annotations

import argparse


def add_variant_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variant", nargs="+", action="append", default=[], metavar=("NAME", "NAME=VALUE"), help="a name, then its env"
    )


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """What a tool passes to the copies of itself it starts as measured processes."""
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)


def variant_envs(args: argparse.Namespace) -> list[tuple[str, dict[str, str]]]:
    """Each ``--variant NAME VAR=VALUE...`` as its name and extra environment."""
    return [(name, dict(item.split("=", 1) for item in assignments)) for name, *assignments in args.variant]
