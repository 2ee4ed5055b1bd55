"""A table of training runs: one row per run, the hyper-parameters that differ, the metrics.

    {{ cookiecutter.package_name }}-runs                                  # every run under runs/
    {{ cookiecutter.package_name }}-runs runs/lenet5-digits --sort=-best_val_accuracy   # -: descending
    {{ cookiecutter.package_name }}-runs --format csv --all > runs.csv    # --all: every hyper-parameter

A missing value shows as `-` (empty in CSV) and sorts last; `note` names unreadable files.
"""

import argparse
import csv
import fnmatch
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf
from tabulate import tabulate

from .config import flatten

# Where files go and how often something is logged or saved: never a hyper-parameter column.
BOOKKEEPING_KEYS = (
    *("run_dir", "runs_root", "hydra.*", "distribute.*", "logger.*", "callbacks", "model.name"),
    *("data.name", "data.*path", "data.*_dir", "data.cache", "data.num_shards", "train.resume"),
    *("train.keep_checkpoints", "train.*_every_*"),
)
DATE = re.compile(r"(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})")  # a run folder's name


def read_file(path: Path, notes: list[str]) -> dict:
    """The mapping in a YAML or JSON file; {} when it is absent, and a note when unreadable."""
    if not path.is_file():
        return {}
    try:
        if path.suffix == ".json":
            content = json.loads(path.read_text())
        else:
            content = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        if not isinstance(content, dict):
            raise ValueError("no mapping")
        return content
    except Exception as error:  # YAML and JSON errors come in many classes
        notes.append(f"{path.name} unreadable ({str(error).strip().splitlines()[0]})")
        return {}


def read_run(run_dir: Path, name: str) -> dict:
    """One run's columns, its hyper-parameters under "hparams" and a note on what failed."""
    notes: list[str] = []
    flat = flatten(read_file(run_dir / "config.yaml", notes))
    result = read_file(run_dir / "result.json", notes)
    metrics = read_file(run_dir / "metrics.json", notes)
    monitor = flat.get("train.monitor")
    best = result.get(f"best_{monitor}")
    if best is None:  # a run still training: its best checkpoint so far
        saved = read_file(run_dir / "checkpoints" / "best" / "best.json", notes)
        best = saved.get("value") if saved.get("metric") == monitor else None
    # result.json's start, else the last dated folder of its path (a sweep job's is its parent's)
    dates = ["{} {}:{}:{}".format(*date) for date in DATE.findall(run_dir.resolve().as_posix())]
    exports = sorted((p.name for p in (run_dir / "export").glob("[0-9]*") if p.is_dir()), key=int)
    skip = [key for key in flat if any(fnmatch.fnmatchcase(key, p) for p in BOOKKEEPING_KEYS)]
    return {
        "run": name,
        "date": str(result.get("started", "")).replace("T", " ") or (dates or [None])[-1],
        "model": flat.get("model.name"),
        "data": flat.get("data.name"),
        "hparams": {key: value for key, value in flat.items() if key not in skip},
        "epochs": result.get("epochs"),
        "best": {} if monitor is None or best is None or math.isnan(best) else {monitor: best},
        "test_accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "exports": ",".join(exports) or None,
        "note": "; ".join(notes) or None,
    }


def build_rows(runs: Sequence[dict], show_all: bool = False) -> tuple[list[str], list[dict]]:
    """(columns, a dict per run): the hyper-parameters that differ between runs with a
    readable config (--all: every one) and a best_<train.monitor> column per monitor."""
    readable = [run["hparams"] for run in runs if run["hparams"]]
    keys = list(dict.fromkeys(key for hparams in readable for key in hparams))
    if not show_all:
        keys = [key for key in keys if len({json.dumps(h.get(key)) for h in readable}) > 1]
    monitors = dict.fromkeys(monitor for run in runs for monitor in run["best"])
    columns = ["run", "date", "model", "data", *keys, "epochs"]
    columns += [f"best_{monitor}" for monitor in monitors]
    columns += ["test_accuracy", "macro_f1", "exports"]
    columns += ["note"] if any(run["note"] for run in runs) else []
    rows = []
    for run in runs:
        values = {**run, **run["hparams"], **{f"best_{m}": v for m, v in run["best"].items()}}
        rows.append({column: values.get(column) for column in columns})
    return columns, rows


def sort_rows(rows: list[dict], key: str, columns: Sequence[str]) -> list[dict]:
    """`rows` by the column `key` names ('-column': descending), numbers numerically, missing
    values last."""
    column = key.lstrip("-")
    if column not in columns:
        raise ValueError(f"--sort {column!r} is not a column; use one of: {', '.join(columns)}")
    present = [row for row in rows if row[column] is not None]
    missing = [row for row in rows if row[column] is None]
    numbers = all(isinstance(row[column], int | float) for row in present)
    order = (lambda row: row[column]) if numbers else (lambda row: str(row[column]))
    return sorted(present, key=order, reverse=key.startswith("-")) + missing


def collect_runs(roots: Sequence[str]) -> list[dict]:
    """Every run (a folder with config.yaml, outside hidden folders such as a sweep's .hydra/)
    below each root, named by its path below it (with the root when there are several)."""
    runs = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder of runs (such as runs/).")
        for config in sorted(root.rglob("config.yaml")):
            name = config.parent.relative_to(root)
            if any(part.startswith(".") for part in name.parts):
                continue
            if len(roots) > 1 or not name.parts:  # several roots, or a run as the root
                name = root / name if len(roots) > 1 else Path(root.resolve().name)
            runs.append(read_run(config.parent, name.as_posix()))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table of runs; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", metavar="ROOT", default=["runs"])
    parser.add_argument("--sort", metavar="COLUMN", default="run", help="-COLUMN descends")
    parser.add_argument("--format", choices=("table", "csv"), default="table")
    parser.add_argument("--all", action="store_true", help="also hyper-parameters all share")
    args = parser.parse_args(argv)
    try:
        runs = collect_runs(args.roots)
        columns, rows = build_rows(runs, args.all)
        rows = sort_rows(rows, args.sort, columns)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not runs:
        print(f"No runs under {' '.join(args.roots)}: no config.yaml there.", file=sys.stderr)
    cells = [
        [json.dumps(v) if isinstance(v, list | dict) else v for v in row.values()] for row in rows
    ]
    if args.format == "csv":
        csv.writer(sys.stdout, lineterminator="\n").writerows([columns, *cells])
    elif rows:
        print(tabulate(cells, columns, floatfmt=".4g", numalign="right", missingval="-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
