"""``streamvox models list | download NAME | import FILE | remove NAME | path [NAME]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.models.errors import CheckpointError
from engine.store import (
    ENV_VAR,
    STATUS_BROKEN,
    STATUS_NOT_DOWNLOADED,
    Cancelled,
    ModelInfo,
    ModelStore,
    StoreError,
    default_root,
)
from engine.store.manifest import HASH_FIRST_USE
from engine.store.registry import KINDS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand and its actions."""
    p = sub.add_parser(
        "models",
        help="list, download, import or remove model weights",
        description=(
            "Manage the model weights in the per-user cache. Files are verified (size, "
            "sha256) and loaded through the safe loaders before they enter the cache."
        ),
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"cache folder (default: ${ENV_VAR}, else {default_root()})",
    )
    actions = p.add_subparsers(dest="models_action", metavar="ACTION", required=True)

    a = actions.add_parser("list", parents=[common], help="known and cached models, with status")
    a.set_defaults(action=_list)

    a = actions.add_parser("download", parents=[common], help="fetch a model into the cache")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--force", action="store_true", help="fetch again even if a good copy exists")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.set_defaults(action=_download)

    a = actions.add_parser("import", parents=[common], help="validate a local file and cache it")
    a.add_argument("file", type=Path, metavar="FILE")
    a.add_argument("--name", default=None, help="model name (default: from the file name)")
    a.add_argument("--kind", choices=KINDS, default=None, help="default: detected")
    a.add_argument("--replace", action="store_true", help="replace a cached model of that name")
    a.set_defaults(action=_import)

    a = actions.add_parser("remove", parents=[common], help="delete a model from the cache")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(action=_remove)

    a = actions.add_parser(
        "path", parents=[common], help="print the cache folder, or the verified file of NAME"
    )
    a.add_argument("name", metavar="NAME", nargs="?")
    a.set_defaults(action=_path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, store: ModelStore | None = None) -> int:
    """Run the chosen action; errors become one clear line on stderr and exit code 1."""
    store = store if store is not None else ModelStore(args.model_dir)
    try:
        return int(args.action(args, store))
    except Cancelled:
        print("stopped; run the same command again to resume", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (StoreError, CheckpointError, ValueError, OSError) as exc:
        print(f"streamvox models: error: {exc}", file=sys.stderr)
        return 1


def _list(args: argparse.Namespace, store: ModelStore) -> int:
    print(f"Model cache: {store.root}")
    rows = [("NAME", "KIND", "STATUS", "SIZE", "FORMAT", "SOURCE")]
    rows += [_row(m) for m in store.list()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    print("\nGet one with `streamvox models download NAME` or `streamvox models import FILE`.")
    return 0


def _row(m: ModelInfo) -> tuple[str, str, str, str, str, str]:
    status = m.status
    if m.status == STATUS_NOT_DOWNLOADED and m.partial_bytes:
        status += f" ({_size(m.partial_bytes)} partial)"
    source = m.source if m.available else (m.url or m.source)
    if m.status == STATUS_BROKEN:
        source = m.description  # what is wrong and how to remove it
    return (m.name, m.kind, status, _size(m.size), m.format, source)


def _download(args: argparse.Namespace, store: ModelStore) -> int:
    bar = _ProgressBar(args.name, enabled=not args.no_progress)
    try:
        info = store.download(
            args.name,
            progress=bar.update,
            force=args.force,
            on_wait=lambda owner: print(
                f"waiting for another download of {args.name} ({owner})", file=sys.stderr
            ),
        )
    finally:
        bar.close()
    print(f"{info.name}: {info.path} ({_size(info.size)}, sha256 {info.sha256})")
    if info.hash_origin == HASH_FIRST_USE:
        print("no published hash: this one was recorded and will be checked from now on")
    return 0


def _import(args: argparse.Namespace, store: ModelStore) -> int:
    info = store.import_file(args.file, name=args.name, kind=args.kind, replace=args.replace)
    print(f"imported {args.file} as {info.name} ({info.kind}, {info.format}): {info.path}")
    print(f"sha256 {info.sha256}")
    return 0


def _remove(args: argparse.Namespace, store: ModelStore) -> int:
    if store.remove(args.name):
        print(f"removed {args.name} from {store.root}")
    else:
        print(f"{args.name} was not in the cache; nothing to remove")
    return 0


def _path(args: argparse.Namespace, store: ModelStore) -> int:
    print(store.resolve(args.name) if args.name else store.root)
    return 0


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return "?"


class _ProgressBar:
    """A tqdm bar on stderr fed by the store's ``progress(done, total)`` callback."""

    def __init__(self, name: str, *, enabled: bool) -> None:
        self.name = name
        self.enabled = enabled
        self._bar: Any = None

    def update(self, done: int, total: int | None) -> None:
        """Create the bar on the first call (resumes start part-way), then advance it."""
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=done,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=self.name,
                file=sys.stderr,
            )
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Finish the bar line (also after an error)."""
        if self._bar is not None:
            self._bar.close()
