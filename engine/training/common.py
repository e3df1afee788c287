"""The training loop shared by both trainers: resume, logging, checkpoints.

A :class:`Trainer` subclass builds its model, optimiser and data, and
implements one :meth:`Trainer.train_step` and :meth:`Trainer.validate`. This
class owns everything else: the step loop, CSV + stdout logs, periodic
resumable checkpoints (model, optimiser, scheduler, step, every RNG),
keeping the best model by validation loss, and the provenance recorded in
exported weights.

Run files (in ``out_dir``): ``last.pt`` (resumable state), ``best.pt`` (the
best state by validation loss, also resumable), ``log.csv``, ``split.json``
and ``config.json`` (the effective configuration).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.atomic_file import replacing
from engine.training.augment import NO_AUGMENT, AugmentConfig, Augmenter
from engine.training.data import load_banks

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_config(path: str | Path | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated by a JSON file's keys; unknown keys raise ValueError.

    Nested dicts are merged one level deep, so a file may override a single
    model or loss option.
    """
    cfg = json.loads(json.dumps(defaults))
    if path is None:
        return cfg
    given = json.loads(Path(path).read_text())
    unknown = set(given) - set(cfg)
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
    for key, value in given.items():
        if isinstance(cfg[key], dict) and isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


def git_commit() -> str:
    """Current commit of the repository (with '+dirty' for local changes), or 'unknown'."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def hardware() -> str:
    """Short description of where training runs (CPU model, cores, torch threads)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (
        f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads; GPU: {gpu}"
    )


def lr_at(step: int, peak: float, warmup: int, total: int, final_ratio: float = 0.05) -> float:
    """Linear warm-up to ``peak``, then cosine decay to ``peak * final_ratio`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class CsvLog:
    """Appends rows of metrics to ``log.csv``; the header grows with new keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fields: list[str] = []
        if path.exists():
            with path.open() as f:
                self.fields = next(csv.reader(f), [])

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (missing fields left empty)."""
        new = [k for k in row if k not in self.fields]
        if new:
            rows = []
            if self.path.exists():
                with self.path.open() as f:
                    rows = list(csv.DictReader(f))
            self.fields += new
            with self.path.open("w", newline="") as f:
                w = csv.DictWriter(f, self.fields)
                w.writeheader()
                w.writerows(rows)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)


class Trainer(ABC):
    """Step loop with logging, validation, checkpoints and resume.

    Subclasses set ``self.model``, ``self.optimizer`` and implement the
    abstract methods. ``cfg`` keys used here: ``seed``, ``steps``, ``lr``,
    ``warmup``, ``log_every``, ``val_every``, ``ckpt_every_s``.
    """

    kind = "model"

    def __init__(self, cfg: dict[str, Any], out_dir: str | Path, initialise: bool = True) -> None:
        self.cfg = cfg
        # False when a saved state replaces the weights anyway (resume, export): then
        # ``init_weights`` is only a record and need not exist any more
        self.initialise = initialise
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg["seed"])
        self.step = 0
        self.best_val = math.inf
        self.best_step = -1
        self.wall_s = 0.0  # training wall time over all resumed sessions
        self.log = CsvLog(self.out_dir / "log.csv")
        # the data: speaker-split banks (the split is written to out_dir) and the augmenter
        self.train_bank, self.val_bank, noise_bank = load_banks(cfg, self.out_dir)
        aug = AugmentConfig(**cfg["augment"]) if cfg["augment"] is not None else NO_AUGMENT
        self.augmenter = Augmenter(self.train_bank, noise_bank, aug, seed=cfg["seed"])
        self.model: torch.nn.Module
        self.optimizer: torch.optim.Optimizer

    # --- to implement -------------------------------------------------------
    @abstractmethod
    def train_step(self) -> dict[str, float]:
        """One optimisation step; returns metrics to log (must include 'loss')."""

    @abstractmethod
    def validate(self) -> dict[str, float]:
        """Metrics on the fixed validation batch (must include 'val_loss')."""

    def extra_state(self) -> dict[str, Any]:
        """More state to checkpoint (e.g. augmenter RNG, EMA buffers)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned (nothing by default)."""
        del state

    # --- state --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly."""
        return {
            "kind": self.kind,
            "training_config": self.cfg,
            "step": self.step,
            "best_val": self.best_val,
            "best_step": self.best_step,
            "wall_s": self.wall_s,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`."""
        if state.get("kind") != self.kind:
            raise ValueError(f"checkpoint is for {state.get('kind')!r}, not {self.kind!r}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.best_val = float(state["best_val"])
        self.best_step = int(state["best_step"])
        self.wall_s = float(state["wall_s"])
        torch.set_rng_state(state["torch_rng"])
        self.load_extra_state(state["extra"])

    def save(self, name: str) -> Path:
        """Write the state atomically to ``out_dir/name``."""
        path = self.out_dir / name
        with replacing(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return path

    def resume(self, name: str = "last.pt") -> bool:
        """Load ``out_dir/name`` if it exists; True when something was loaded."""
        path = self.out_dir / name
        if not path.exists():
            return False
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return True

    def provenance(self, data_summary: dict[str, Any]) -> dict[str, Any]:
        """Metadata for exported weights: data, steps, wall time, hardware, commit, date."""
        return {
            "trained_by": "streamvox engine/training",
            "training_data": data_summary,
            "steps": self.step,
            "best_step": self.best_step,
            "best_val_loss": self.best_val,
            "wall_time_s": round(self.wall_s, 1),
            "hardware": hardware(),
            "git_commit": git_commit(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "training_config": self.cfg,
        }

    # --- loop ---------------------------------------------------------------
    def set_lr(self) -> float:
        """Apply the schedule for the current step; returns the learning rate."""
        c = self.cfg
        lr = lr_at(self.schedule_step(), c["lr"], c["warmup"], c["steps"])
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def schedule_step(self) -> int:
        """Where the learning-rate schedule stands: the step, or the share of training time.

        With ``schedule_minutes`` the schedule runs over that much training
        time (its ``steps`` then only scales warm-up and decay), so arms of an
        equal-CPU-time experiment whose steps cost differently all anneal.
        """
        minutes = self.cfg.get("schedule_minutes")
        if not minutes:
            return self.step
        return int(self.cfg["steps"] * min(1.0, self.wall_s / (60.0 * minutes)))

    def run_validation(self) -> dict[str, float]:
        """Validate, keep ``best.pt`` when the loss improved; returns the metrics."""
        self.model.eval()
        with torch.no_grad():
            metrics = self.validate()
        self.model.train()
        if metrics["val_loss"] < self.best_val:
            self.best_val = metrics["val_loss"]
            self.best_step = self.step
            self.save("best.pt")
        return metrics

    def run(self, steps: int | None = None, minutes: float | None = None) -> None:
        """Train until ``steps`` (default ``cfg['steps']``) total steps are done.

        ``minutes`` stops earlier, after that much training time in this call
        (equal-CPU-time experiments), with a validation and ``last.pt``.
        """
        c = self.cfg
        target = c["steps"] if steps is None else steps
        last_ckpt = time.monotonic()
        deadline = None if minutes is None else last_ckpt + 60.0 * minutes
        window: list[dict[str, float]] = []
        t0 = time.monotonic()
        self.model.train()
        while self.step < target:
            lr = self.set_lr()
            metrics = self.train_step()
            self.step += 1
            now = time.monotonic()
            self.wall_s += now - t0
            t0 = now
            if deadline is not None and now > deadline:
                target = self.step  # out of time: log, validate and save this step
            window.append(metrics)
            if self.step % c["log_every"] == 0 or self.step == target:
                row = {k: float(np.mean([m[k] for m in window])) for k in window[0]}
                row.update(step=self.step, lr=lr, wall_s=round(self.wall_s, 1))
                if self.step % c["val_every"] == 0 or self.step == target:
                    row.update(self.run_validation())
                    t0 = time.monotonic()  # validation time is not training time
                self.log.write(row)
                print(_format_row(row), flush=True)
                window = []
            if now - last_ckpt > c["ckpt_every_s"] or self.step == target:
                self.save("last.pt")
                last_ckpt = time.monotonic()
                t0 = last_ckpt


def _format_row(row: dict[str, float]) -> str:
    head = f"step {int(row['step']):7d}"
    rest = " ".join(
        f"{k}={v:.4g}" for k, v in row.items() if k != "step" and isinstance(v, (int, float))
    )
    return f"{head} {rest}"


def add_common_args(parser: Any) -> None:
    """Arguments shared by both trainers' command lines."""
    parser.add_argument("--config", type=Path, help="JSON file overriding the defaults")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument(
        "--reset-best",
        action="store_true",
        help="with --resume: forget the best validation loss (after changing the loss)",
    )
    parser.add_argument("--steps", type=int, help="stop after this many total steps")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--minutes", type=float, help="stop after this much training time (then validate, save)"
    )
    parser.add_argument(
        "--export",
        type=Path,
        help="write shipping weights (from OUT/best.pt) to this path and exit",
    )
    parser.add_argument(
        "--from-checkpoint", default="best.pt", help="run file to export (best.pt or last.pt)"
    )


def print_banner(kind: str, cfg: dict[str, Any], out_dir: Path) -> None:
    """Say what is being trained, where, and with which options."""
    print(f"[{kind}] out={out_dir} python={sys.version.split()[0]} {hardware()}", flush=True)
    print(json.dumps(cfg), flush=True)


def run_cli(
    kind: str, trainer_cls: Any, defaults: dict[str, Any], doc: str, argv: list[str] | None
) -> int:
    """The shared command line of the trainers: train, resume or export one run."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, defaults)
    if args.resume and (args.out / "config.json").exists() and args.config is None:
        cfg = load_config(args.out / "config.json", defaults)
    restoring = bool(args.export) or (args.resume and (args.out / "last.pt").exists())
    trainer = trainer_cls(cfg, args.out, initialise=not restoring)
    if args.export:
        path = trainer.export(args.export, args.from_checkpoint)
        print(f"exported {path} (step {trainer.step}, best val {trainer.best_val:.4f})")
        return 0
    (args.out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    if args.resume and trainer.resume():
        print(f"resumed at step {trainer.step}", flush=True)
        if args.reset_best:  # validation losses of another loss do not compare
            trainer.best_val = math.inf
    print_banner(kind, cfg, args.out)
    trainer.run(args.steps, args.minutes)
    return 0
