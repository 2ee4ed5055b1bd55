"""A table of training runs: one row per run, the hyper-parameters that differ, and the metrics.

    {{ cookiecutter.package_name }}-runs                          # every run under runs/
    {{ cookiecutter.package_name }}-runs runs/lenet5-digits --sort=-best_val_accuracy
    {{ cookiecutter.package_name }}-runs --format csv > runs.csv  # or --format json, for scripts
    make runs

A run is a folder holding config.yaml (the resolved training config). Columns: run (its path
relative to ROOT), date, model, data, each hyper-parameter whose value differs between the listed
runs (--all: every hyper-parameter), epochs, best_<train.monitor> (the best validation value),
test_accuracy and macro_f1 (after eval), exports (the export/<version> folders), and a note for a
run whose files cannot be read. `--sort KEY` sorts by any column (a unique suffix such as
learning_rate will do): numbers numerically, missing values last; `--sort=-KEY` (or
`--sort -KEY`) sorts descending.

Missing values read '-' in the table, an empty field in CSV and null in JSON. A ROOT with no runs
prints a one-line message on stderr and exits 0 (an empty table is not an error); a ROOT that does
not exist exits 1. TensorFlow is not imported, so the table comes up at once.
"""

import argparse
import csv
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from tabulate import tabulate

from .config import flatten

CONFIG_FILE = "config.yaml"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.json"
BEST_FILE = Path("checkpoints") / "best" / "best.json"
EXPORT_DIR = "export"
DEFAULT_ROOT = "runs"
MISSING = "-"
FORMATS = ("table", "csv", "json")

# Config keys that say where files go or how often something is logged or saved, not what was
# trained: never a hyper-parameter column. A key is left out when it or a parent is listed.
BOOKKEEPING_KEYS = (
    "run_dir",
    "runs_root",
    "checkpoint",
    "hydra",
    "data.path",
    "data.test_path",
    "data.download_dir",
    "data.records_dir",
    "data.cache",
    "data.num_shards",
    "data.shard_policy",
    "train.resume",
    "train.keep_checkpoints",
    "train.checkpoint_every_steps",
    "train.validate_every_steps",
    "train.validation_steps",
    "train.log_every_steps",
    "train.histogram_every_steps",
    "distribute",
    "export",
    "logger",
    "callbacks",
)
# Hyper-parameter columns come in this order of config sections, then in config order.
SECTION_ORDER = ("model", "train", "data")
# The run's own columns, before and after the hyper-parameters (best_<monitor> sits after epochs).
LEADING_COLUMNS = ("run", "date", "model", "data")
METRIC_COLUMNS = ("test_accuracy", "macro_f1", "exports")
NAME_KEYS = ("model.name", "data.name")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


# === Finding and reading runs ===


def find_runs(root: Path) -> list[Path]:
    """Every folder below `root` (root included) that holds config.yaml, sorted by path.

    Hidden folders are skipped, and nothing below a run is searched (its checkpoints and exports
    hold no other runs).
    """
    found = []
    for folder, subfolders, files in os.walk(root):
        if CONFIG_FILE in files:
            found.append(Path(folder))
            subfolders.clear()
        else:
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
    return sorted(found)


def is_bookkeeping(key: str) -> bool:
    """True when `key` or one of its parents is in BOOKKEEPING_KEYS."""
    return any(key == name or key.startswith(name + ".") for name in BOOKKEEPING_KEYS)


def hyperparameters(config: dict) -> dict[str, Any]:
    """The flattened config without bookkeeping keys and names, hyper-parameters that matter first."""
    flat = {
        key: value
        for key, value in flatten(config).items()
        if not is_bookkeeping(key) and key not in NAME_KEYS
    }
    rank = {section: index for index, section in enumerate(SECTION_ORDER)}
    ordered = sorted(flat, key=lambda key: rank.get(key.split(".")[0], len(rank)))  # stable
    return {key: flat[key] for key in ordered}


def read_config(run_dir: Path) -> dict:
    """config.yaml as a plain dict, resolved where it can be; raises ValueError when unreadable."""
    try:
        config = OmegaConf.load(run_dir / CONFIG_FILE)
    except Exception as error:  # YAML errors come in many classes; all mean "unreadable"
        raise ValueError(f"{CONFIG_FILE} unreadable ({first_line(error)})") from error
    if not OmegaConf.is_dict(config):
        raise ValueError(f"{CONFIG_FILE} holds no mapping")
    try:
        return OmegaConf.to_container(config, resolve=True)
    except Exception:  # an interpolation that needs Hydra: show it as written
        return OmegaConf.to_container(config, resolve=False)


def read_json(path: Path, notes: list[str]) -> dict:
    """The JSON object in `path`; {} when absent, and a note when it cannot be read."""
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        notes.append(f"{path.name} unreadable ({first_line(error)})")
        return {}
    if not isinstance(content, dict):
        notes.append(f"{path.name} holds no JSON object")
        return {}
    return content


def first_line(error: BaseException) -> str:
    """A one-line note of an error: a YAML error's problem and line, else its first line."""
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# === One run ===


def run_date(run_dir: Path, result: dict) -> str | None:
    """When the run started: result.json's `started`, a timestamped folder name, else the
    config's modification time; in local time as YYYY-MM-DD HH:MM:SS."""
    started = result.get("started")
    if isinstance(started, str):
        try:
            moment = datetime.fromisoformat(started.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone().replace(tzinfo=None)
            return moment.strftime(DATE_FORMAT)
        except ValueError:
            pass
    for name in reversed(run_dir.resolve().parts):  # a sweep job: <time>/<job number>
        if DATE_PATTERN.match(name):
            return datetime.strptime(name, "%Y-%m-%d_%H-%M-%S").strftime(DATE_FORMAT)
    try:
        return datetime.fromtimestamp((run_dir / CONFIG_FILE).stat().st_mtime).strftime(
            DATE_FORMAT
        )
    except OSError:
        return None


def best_value(run_dir: Path, result: dict, monitor: str | None, notes: list[str]) -> tuple:
    """(metric name, best validation value) from result.json, else checkpoints/best/best.json."""
    monitor = result.get("monitor") or monitor
    value = result.get("best_value", result.get(f"best_{monitor}") if monitor else None)
    if value is None:
        best = read_json(run_dir / BEST_FILE, notes)
        monitor = monitor or best.get("metric")
        if best.get("metric", monitor) == monitor:
            value = best.get("value")
    if isinstance(value, float) and math.isnan(value):  # no full validation yet
        value = None
    return monitor, value


def export_versions(run_dir: Path) -> str | None:
    """The export/<version> folder names, numbers in numeric order, comma-joined."""
    export_root = run_dir / EXPORT_DIR
    if not export_root.is_dir():
        return None
    names = [p.name for p in export_root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    names.sort(key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0, name))
    return ",".join(names) or None


def read_run(run_dir: Path, name: str) -> dict:
    """One run's facts: its name, config hyper-parameters, results and a note on what failed."""
    notes: list[str] = []
    try:
        config = read_config(run_dir)
    except ValueError as error:
        notes.append(str(error))
        config = {}
    flat = flatten(config)
    result = read_json(run_dir / RESULT_FILE, notes)
    metrics = read_json(run_dir / METRICS_FILE, notes)
    monitor, best = best_value(run_dir, result, flat.get("train.monitor"), notes)
    return {
        "run": name,
        "date": run_date(run_dir, result),
        "model": flat.get("model.name"),
        "data": flat.get("data.name"),
        "hparams": hyperparameters(config),
        "epochs": result.get("epochs"),
        "monitor": monitor,
        "best": best,
        "test_accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "exports": export_versions(run_dir),
        "note": "; ".join(notes) or None,
    }


# === The table ===


def comparable(value: Any) -> str:
    """A value as a string that compares equal exactly when the values are equal."""
    return json.dumps(value, sort_keys=True, default=str)


def hyperparameter_columns(runs: Sequence[dict], show_all: bool = False) -> list[str]:
    """The hyper-parameters whose values differ between `runs` (all of them with show_all),
    in the order of the first run that has each. Runs without a readable config do not count."""
    readable = [run for run in runs if run["hparams"]]
    columns: dict[str, None] = {}
    for run in readable:
        columns.update(dict.fromkeys(run["hparams"]))
    if show_all:
        return list(columns)
    missing = object()
    return [
        key
        for key in columns
        if len({comparable(run["hparams"].get(key, missing)) for run in readable}) > 1
    ]


def build_rows(runs: Sequence[dict], show_all: bool = False) -> tuple[list[str], list[dict]]:
    """(columns, rows): one row dict per run, keyed by column, None where a value is missing."""
    hparam_columns = hyperparameter_columns(runs, show_all)
    monitors = list(dict.fromkeys(run["monitor"] for run in runs if run["monitor"]))
    best_columns = [f"best_{monitor}" for monitor in monitors] or ["best"]
    rows = []
    for run in runs:
        row = {column: run[column] for column in LEADING_COLUMNS}
        row.update({key: run["hparams"].get(key) for key in hparam_columns})
        row["epochs"] = run["epochs"]
        row.update(dict.fromkeys(best_columns))
        if run["monitor"]:
            row[f"best_{run['monitor']}"] = run["best"]
        row.update({column: run[column] for column in METRIC_COLUMNS})
        row["note"] = run["note"]
        rows.append(row)
    columns = [*LEADING_COLUMNS, *hparam_columns, "epochs", *best_columns, *METRIC_COLUMNS]
    if any(row["note"] for row in rows):
        columns.append("note")
    return columns, [{column: row[column] for column in columns} for row in rows]


def resolve_column(key: str, columns: Sequence[str]) -> str:
    """The column `key` names: exact, else the one column ending in '.key' or starting with key."""
    if key in columns:
        return key
    matches = [c for c in columns if c.endswith("." + key)] or [
        c for c in columns if c.startswith(key)
    ]
    if len(matches) == 1:
        return matches[0]
    choices = ", ".join(matches or columns)
    raise ValueError(
        f"--sort {key!r} names {'several' if matches else 'no'} column; use one of: {choices}"
    )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


def sort_rows(rows: list[dict], key: str, columns: Sequence[str]) -> list[dict]:
    """`rows` sorted by the column `key` names ('-key': descending), missing values last."""
    descending = key.startswith("-")
    column = resolve_column(key.lstrip("-"), columns)
    present = [row for row in rows if row[column] is not None]
    missing = [row for row in rows if row[column] is None]

    def order(row: dict) -> tuple:
        value = row[column]
        if is_number(value):
            return (0, value, "")
        return (1, 0, value if isinstance(value, str) else comparable(value))

    return sorted(present, key=order, reverse=descending) + missing


def format_value(value: Any, precision: bool = True) -> str:
    """A cell: '-' for missing, short floats in the table, lists as [a, b]."""
    if value is None:
        return MISSING
    if isinstance(value, float) and precision:
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def render_table(columns: Sequence[str], rows: Sequence[dict]) -> str:
    """An aligned text table (tabulate): numbers to the right, text to the left."""
    cells = [
        [value if value is None or is_number(value) else format_value(value) for value in row]
        for row in ([row[column] for column in columns] for row in rows)
    ]
    return tabulate(cells, columns, floatfmt=".4g", numalign="right", missingval=MISSING)


def write_output(columns: Sequence[str], rows: Sequence[dict], output_format: str) -> None:
    """Writes the rows to stdout as an aligned table, CSV or a JSON list of row dicts."""
    if output_format == "json":
        json.dump(list(rows), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                ["" if row[c] is None else format_value(row[c], precision=False) for c in columns]
            )
    elif rows:
        print(render_table(columns, rows))


# === Command line ===


def collect_runs(roots: Iterable[str]) -> list[dict]:
    """Every run below each root; names are relative to the root (prefixed by it when several)."""
    roots = list(roots)
    runs = []
    for root in roots:
        root_path = Path(root)
        if not root_path.is_dir():
            raise FileNotFoundError(
                f"{root} is not a folder. Expected a folder of runs such as {DEFAULT_ROOT}/, "
                "made by training: {{ cookiecutter.package_name }}-train"
            )
        for run_dir in find_runs(root_path):
            relative = run_dir.relative_to(root_path)
            if len(roots) > 1:
                relative = root_path / relative
            elif relative == Path("."):  # ROOT is a run itself
                relative = Path(root_path.resolve().name)
            runs.append(read_run(run_dir, relative.as_posix()))
    return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="{{ cookiecutter.package_name }}-runs",
        description="A table of the training runs below ROOT: the hyper-parameters that differ "
        "between them and their metrics.",
        epilog="e.g. {{ cookiecutter.package_name }}-runs runs --sort=-test_accuracy --format csv",
    )
    parser.add_argument(
        "roots",
        nargs="*",
        metavar="ROOT",
        default=[DEFAULT_ROOT],
        help=f"folders to search for runs (default: {DEFAULT_ROOT})",
    )
    parser.add_argument(
        "--sort",
        metavar="KEY",
        default="run",
        help="a column to sort by; --sort=-KEY sorts descending (default: run)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        dest="output_format",
        help="an aligned table (default), CSV or a JSON list of rows",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        dest="show_all",
        help="every hyper-parameter, also those equal in all runs",
    )
    fixed: list[str] = []  # "--sort -KEY": argparse would read -KEY as an option
    for arg in sys.argv[1:] if argv is None else argv:
        if fixed[-1:] == ["--sort"] and arg.startswith("-") and not arg.startswith("--"):
            fixed[-1] = f"--sort={arg}"
        else:
            fixed.append(arg)
    return parser.parse_args(fixed)


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table of runs; returns the exit status."""
    args = parse_args(argv)
    try:
        runs = collect_runs(args.roots)
        columns, rows = build_rows(runs, args.show_all)
        rows = sort_rows(rows, args.sort, columns)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not runs:
        print(
            f"No runs under {', '.join(args.roots)} (a run is a folder holding {CONFIG_FILE}; "
            "train one with: {{ cookiecutter.package_name }}-train)",
            file=sys.stderr,
        )
    write_output(columns, rows, args.output_format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
