"""A table of training runs: one row per run (by its folder, so by start time), the
hyper-parameters that differ, the metrics. No TensorFlow here: it prints at once.

    {{ cookiecutter.package_name }}-runs [ROOT]    # every run under ROOT (runs/); `-`: no value
"""

import argparse
import contextlib
import sys
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path

import yaml
from omegaconf import OmegaConf
from tabulate import tabulate

from .config import BOOKKEEPING, flatten


def read(path: Path) -> dict:
    """A run's YAML or JSON file (JSON is YAML too), flattened; {} when absent."""
    return flatten(OmegaConf.to_container(OmegaConf.load(path))) if path.is_file() else {}


def read_run(run_dir: Path, name: str) -> dict:
    """One run's cells, its hyper-parameters apart under "hparams"."""
    config, result = read(run_dir / "config.yaml"), read(run_dir / "result.json")
    metrics, monitor = read(run_dir / "metrics.json"), config.get("train.monitor")
    exports = sorted(run_dir.glob("export/[0-9]*"), key=lambda path: int(path.name))
    index, started = run_dir / "checkpoints" / "checkpoint", None  # names the latest checkpoint
    latest = yaml.safe_load(index.read_text())["model_checkpoint_path"] if index.is_file() else ""
    sources = {"test": metrics, "export": read(exports[-1] / "export.json") if exports else {}}
    names = {key: Path(made.get("checkpoint", latest)).name for key, made in sources.items()}
    stale = [key for key, name in names.items() if name != latest]
    with contextlib.suppress(OSError), open(run_dir / "train.log", encoding="utf-8") as log:
        started = log.readline()[:16]  # its first line's time: when the run started
    hparams = {k: v for k, v in config.items() if not any(fnmatchcase(k, p) for p in BOOKKEEPING)}
    row = {"run": name, "started": started, "hparams": hparams, "epochs": result.get("epochs")}
    if monitor:
        row[f"best_{monitor}"] = result.get(f"best_{monitor}")
    row.update(test_accuracy=metrics.get("accuracy"), macro_f1=metrics.get("macro_f1"))
    row["exports"] = ",".join(path.name for path in exports) or None
    row["stale"] = ",".join(stale) or None  # made from an older checkpoint than the latest
    return row


def collect_runs(root: Path) -> list[dict]:
    """Every run (a folder with config.yaml) below `root`, named by its path below it."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of runs (such as runs/).")
    runs = []
    for config in sorted(root.rglob("config.yaml")):
        name = "/".join(config.parent.relative_to(root).parts) or root.resolve().name
        runs.append(read_run(config.parent, name))
    return runs


def table(runs: list[dict]) -> tuple[list[str], list[dict]]:
    """(columns, rows): the runs' cells, with the hyper-parameters that differ between them."""
    hparams = [run["hparams"] for run in runs]
    keys = dict.fromkeys(key for run_hparams in hparams for key in run_hparams)
    differ = [key for key in keys if len({repr(h.get(key)) for h in hparams}) > 1]
    bests = dict.fromkeys(key for run in runs for key in run if key.startswith("best_"))
    columns = ["run", "started", *differ, "epochs", *bests, "test_accuracy", "macro_f1"]
    columns += ["exports", "stale"]
    return columns, [{**run["hparams"], **run} for run in runs]


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table of runs; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path("runs"))
    args = parser.parse_args(argv)
    try:
        columns, rows = table(collect_runs(args.root))
    except (FileNotFoundError, yaml.YAMLError) as error:  # YAMLError names the file
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not rows:
        print(f"No runs under {args.root}: no config.yaml there.", file=sys.stderr)
        return 0
    cells = [[row.get(column) for column in columns] for row in rows]
    print(tabulate(cells, columns, floatfmt=".4f", missingval="-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
