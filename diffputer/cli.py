"""Command line: ``diffputer impute IN.csv -m 5 -o OUT.csv``."""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import nullcontext
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
    imp.add_argument("--distributed", action="store_true",
                     help="run as one of the processes that torchrun launches: each reads its "
                          "share of the rows (its row groups of a parquet input), they fit one "
                          "model together, and rank 0 writes the output")
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


def read_shard(path: Path, group) -> pd.DataFrame:
    """This process's rows of the input (indexed by their row numbers in the file): its
    parquet row groups, or its slice of a CSV; the whole table for a single process."""
    from .distributed import local_rows, read_parquet_shard

    if group.size == 1 or not path.exists():
        return read_table(path)
    if _is_parquet(path):
        return read_parquet_shard(path, group)
    return local_rows(read_table(path), group)


def run_impute(args) -> None:
    from .distributed import LOCAL, gather_imputations, process_group
    from .estimator import impute

    options = dict(parse_setting(text) for text in args.settings)
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    if args.distributed and args.checkpoint_dir is not None:
        raise ValueError("--checkpoint-dir cannot be combined with --distributed yet.")
    with process_group(args.device) if args.distributed else nullcontext(LOCAL) as group:
        data = read_shard(args.input, group)
        result = impute(data, m=args.m, preset=args.preset, device=args.device,
                        random_state=args.seed, progress=not args.quiet and group.rank == 0,
                        checkpoint_dir=args.checkpoint_dir, distributed=args.distributed,
                        **options)
        if args.distributed:
            result = gather_imputations(result, group)
        if group.rank == 0:
            write_result(result, args)


def write_result(result, args) -> None:
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
