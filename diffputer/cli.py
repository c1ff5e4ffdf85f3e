"""Command line: ``diffputer impute IN.csv -m 5 -o OUT.csv``."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from ._files import atomic_write
from .settings import PRESETS, SETTING_NAMES

FORMATS = ("long", "broad", "repeated")


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"input file {path} does not exist")
    if _is_parquet(path):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def write_table(df: pd.DataFrame, path: Path) -> None:
    if _is_parquet(path):
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffputer", description="Multiple imputation of missing data with DiffPuter."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser(
        "impute",
        help="impute a CSV or parquet table",
        description="Fit DiffPuter on a table and write m imputed versions of it. The 'long' "
        "format stacks the original (.imp = 0) and the m imputations (.imp = 1..m) with an "
        ".id column, as mice's complete(imp, 'long', include = TRUE); 'broad' and 'repeated' "
        "put them side by side (columns named col.i).",
    )
    imp.add_argument("input", type=Path, help="input table (.csv, or .parquet with pyarrow)")
    imp.add_argument("-o", "--output", type=Path, required=True, help="output table path")
    imp.add_argument("-m", type=int, default=5, help="number of imputations (default 5)")
    imp.add_argument("--format", choices=FORMATS, default="long", help="output layout")
    imp.add_argument("--seed", type=int, default=None, help="random seed")
    imp.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    imp.add_argument("--max-iter", type=int, default=None, help="EM iterations")
    imp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    imp.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                     help="override one setting of the preset, e.g. --set width=128 "
                     f"(repeatable; names: {', '.join(SETTING_NAMES)})")
    imp.add_argument("--checkpoint-dir", type=Path, default=None,
                     help="save the EM state there after each iteration; rerun with the same "
                          "arguments to resume a killed run")
    imp.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def parse_setting(text: str) -> tuple[str, object]:
    """``"width=128"`` -> ("width", 128); numbers and true/false are converted, the rest
    stays text (and is checked with the other settings)."""
    name, sep, raw = text.partition("=")
    if not sep or name not in SETTING_NAMES:
        raise ValueError(f"--set expects NAME=VALUE with NAME one of {list(SETTING_NAMES)}; "
                         f"got {text!r}")
    if raw.lower() in ("true", "false"):
        return name, raw.lower() == "true"
    for convert in (int, float):
        try:
            return name, convert(raw)
        except ValueError:
            pass
    return name, raw


def run_impute(args) -> None:
    from .estimator import impute

    options = dict(parse_setting(text) for text in args.settings)
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    data = read_table(args.input)
    result = impute(data, m=args.m, preset=args.preset, device=args.device,
                    random_state=args.seed, progress=not args.quiet,
                    checkpoint_dir=args.checkpoint_dir, **options)
    table = result.complete(args.format, include=True)
    write_table(table, args.output)
    if not args.quiet:
        print(result.summary().to_string(), file=sys.stderr)
        print(f"wrote {args.output} ({args.format}, m={args.m})", file=sys.stderr)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            run_impute(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:
        print(f"diffputer: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
