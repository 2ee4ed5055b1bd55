"""Weights & Biases tracking (logger=wandb): each run directory gets one W&B run, with the
config, each epoch's metrics and the result; a resumed training logs on into the same W&B run.

    {{ cookiecutter.package_name }}-train logger=wandb                      # logged in (wandb login), or:
    WANDB_MODE=offline {{ cookiecutter.package_name }}-train logger=wandb   # no account: run_dir/wandb/, `wandb sync` later

logger.wandb.project, .entity and .mode (online, offline, disabled; null: $WANDB_MODE) choose
where. W&B also records the machine's CPU, GPU and memory use while the run trains.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import wandb

from . import jsonio

WANDB_FILE = "wandb.json"  # the W&B run of a run directory, for resumes


class WandbLogger(keras.callbacks.Callback):
    """Logs a training run to its W&B run (named in run_dir/wandb.json)."""

    def __init__(
        self,
        run_dir: str | Path,
        project: str,
        entity: str | None,
        mode: str | None,
        params: Mapping[str, Any],
    ):
        super().__init__()
        self.run_dir, self.params, self.run = Path(run_dir), params, None
        self.options = {"project": project, "entity": entity, "mode": mode}

    def on_train_begin(self, logs: dict | None = None) -> None:
        record = self.run_dir / WANDB_FILE
        run_id = jsonio.read_json(record)["run_id"] if record.exists() else None  # None: a new one
        name = "/".join(self.run_dir.resolve().parts[-2:])  # <model>-<data>/<date>_<time>
        try:
            self.run = wandb.init(
                id=run_id, resume="allow", name=name, dir=self.run_dir, **self.options
            )
        except wandb.errors.UsageError as error:  # e.g. online without an API key
            raise ValueError(
                f"logger=wandb could not start a W&B run ({error}). Log in with `wandb login`, "
                "or log offline: logger.wandb.mode=offline (then `wandb sync`)."
            ) from error
        self.run.config.update(dict(self.params), allow_val_change=True)  # a resume's changes
        jsonio.write_json(record, {"run_id": self.run.id, "project": self.options["project"]})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.run.log(dict(logs or {}), step=epoch + 1)

    def on_train_end(self, logs: dict | None = None) -> None:
        """The result (best_val_accuracy, epochs, ...) as the run's summary; the run ends."""
        numbers = {k: v for k, v in (logs or {}).items() if isinstance(v, int | float)}
        self.run.summary.update(numbers)
        self.run.finish()
