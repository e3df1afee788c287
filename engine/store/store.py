"""The per-user model store: the one API behind ``streamvox models`` and the GUI dialog.

    store = ModelStore()                      # or ModelStore(root=settings.model_dir)
    for m in store.list(): print(m.name, m.status)
    store.download("streaming-vocos", progress=cb, cancel=event.is_set)
    store.import_file("~/tiny_transformer_best.pt", name="seed-codec")
    path = store.resolve("seed-codec")        # verified: size and sha256
    model = store.load("seed-codec")

Every write to a model's folder happens under that model's cross-process
lock. A file enters the cache only after it loaded successfully through the
safe loaders; its sha256 is then recorded in the manifest (the registry's
when published, else the file's own: trust on first use) and checked on
every later ``resolve``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.models.errors import CheckpointError
from engine.store.cache import CacheLayout, ModelPaths
from engine.store.download import (
    CancelCheck,
    DownloadOptions,
    ProgressCallback,
    download,
    sha256_file,
)
from engine.store.errors import (
    Cancelled,
    DownloadError,
    IntegrityError,
    LockTimeoutError,
    ModelNotAvailableError,
    StoreError,
    UnknownModelError,
)
from engine.store.folder import (
    IMPORT_TMP_GLOB,
    broken_reason,
    copy_hashing,
    is_model_name,
    manual_hint,
    model_files,
    name_from_filename,
    remove_if_empty,
    remove_other_files,
    safe_filename,
)
from engine.store.info import (
    STATUS_BROKEN,
    STATUS_CACHED,
    STATUS_NOT_DOWNLOADED,
    STATUS_UNVERIFIED,
    ModelInfo,
    bundled_info,
    hash_origin,
    info_from,
    new_manifest,
    verify_against,
)
from engine.store.lock import ModelLock
from engine.store.manifest import (
    Manifest,
    ManifestError,
    now_utc,
    read_manifest,
    write_manifest,
)
from engine.store.registry import DEFAULT_REGISTRY, KINDS, ModelEntry, Registry, check_name
from engine.store.validate import Validated, load_model, validate_model_file


class ModelStore:
    """Registry + cache folder + downloader + validation, behind one object.

    ``root`` is the settings value (None: ``$STREAMVOX_MODEL_DIR`` or the
    platform cache dir); ``registry`` is replaceable for tests.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        registry: Registry = DEFAULT_REGISTRY,
        options: DownloadOptions | None = None,
        lock_timeout: float = 3600.0,
    ) -> None:
        self.layout = CacheLayout(root)
        self.registry = registry
        self.options = options or DownloadOptions()
        self.lock_timeout = lock_timeout

    @property
    def root(self) -> Path:
        """The cache folder (may not exist yet)."""
        return self.layout.root

    # -- reading ---------------------------------------------------------------
    def list(self) -> list[ModelInfo]:
        """Every registry entry, then every other model found in the cache.

        One bad cache folder never fails the listing: it is listed as
        :data:`STATUS_BROKEN` with the way to remove it. Copies left by
        imports that were killed are deleted first.
        """
        self.clean_dead_imports()
        names = list(self.registry)
        names += [n for n in self.layout.cached_names() if n not in self.registry]
        return [self._info_or_broken(n) for n in names]

    def clean_dead_imports(self) -> list[Path]:
        """Delete the temporary copies of imports whose process is gone; return them.

        An import holds the model's lock while it copies, so a copy whose
        lock is free belongs to a process that died.
        """
        removed: list[Path] = []
        for name in self.layout.cached_names():
            folder = self.layout.model_folder(name)
            temps = list(folder.glob(IMPORT_TMP_GLOB))
            if not temps:
                continue
            lock = self._lock(name, None, None, timeout=0)
            try:
                lock.acquire()
            except LockTimeoutError:
                continue  # an import is running right now
            try:
                for tmp in temps:
                    tmp.unlink(missing_ok=True)
                    removed.append(tmp)
                remove_if_empty(folder)
            finally:
                lock.release()
        return removed

    def info(self, name: str) -> ModelInfo:
        """Status of one model, without hashing or loading anything (cheap)."""
        entry = self.registry.get(check_name(name))
        if entry is not None and entry.bundled is not None:
            return bundled_info(entry)
        manifest = self._manifest_or_none(name)
        paths = self._paths(name, entry, manifest)
        if paths is None:
            raise UnknownModelError(f"unknown model {name!r}; see `streamvox models list`")
        base = info_from(entry, manifest, name)
        partial = paths.part.stat().st_size if paths.part.is_file() else 0
        if paths.file.is_file():
            status = STATUS_CACHED if manifest is not None else STATUS_UNVERIFIED
            size = manifest.size if manifest else paths.file.stat().st_size
            return replace(base, status=status, path=paths.file, size=size, partial_bytes=partial)
        return replace(base, status=STATUS_NOT_DOWNLOADED, path=None, partial_bytes=partial)

    def resolve(self, name: str, *, verify: bool = True) -> Path:
        """The local path of model ``name``, checked against its recorded hash.

        A file placed in the cache by hand is validated (loaded) and its hash
        recorded on this first use. Raises ModelNotAvailableError (with what
        to do) if the model is not on this computer, IntegrityError if the
        file changed since it was first trusted.
        """
        entry = self.registry.get(check_name(name))
        if entry is not None and entry.bundled is not None:
            if not entry.bundled.is_file():
                raise ModelNotAvailableError(
                    f"the bundled model {name!r} is missing from this installation "
                    f"({entry.bundled}); reinstall streamvox"
                )
            return entry.bundled
        manifest = self._manifest_or_none(name)
        paths = self._paths(name, entry, manifest)
        if paths is None:
            raise UnknownModelError(f"unknown model {name!r}; see `streamvox models list`")
        if not paths.file.is_file():
            raise ModelNotAvailableError(self._not_available_message(name, entry, paths))
        if manifest is None:
            return self._adopt(name, entry, paths)
        if verify:
            verify_against(paths.file, manifest, entry)
        return paths.file

    def load(self, name: str) -> Any:
        """Resolve (verifying the hash) and load model ``name`` through the safe loaders."""
        path = self.resolve(name)
        return load_model(path, self.info(name).kind)

    def manual_hint(self, name: str) -> str:
        """How to get model ``name`` without the downloader (offline, blocked site)."""
        entry = self._entry(name)
        if entry.url is None:
            raise StoreError(f"{name!r} is bundled with streamvox; there is nothing to download")
        return manual_hint(name, entry, self.layout.paths(name, entry.filename))

    # -- writing ---------------------------------------------------------------
    def download(
        self,
        name: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        on_wait: Callable[[str], None] | None = None,
        force: bool = False,
    ) -> ModelInfo:
        """Fetch model ``name`` into the cache (or return at once if it is there and intact).

        ``progress(done, total)`` is called from this thread as bytes arrive;
        ``cancel()`` is polled between chunks (DownloadCancelled, the partial
        file stays for a later resume); ``on_wait(owner)`` says another
        process is already downloading it (we then wait and reuse its file).
        With ``force`` an intact cached copy is fetched again.
        """
        entry = self._entry(name)
        if entry.url is None:
            raise StoreError(f"{name!r} is bundled with streamvox; there is nothing to download")
        paths = self.layout.paths(name, entry.filename)
        with self._lock(name, cancel, on_wait):
            old = self._manifest_or_none(name)
            if not force and old is not None and paths.file.is_file():
                try:
                    verify_against(paths.file, old, entry)
                    return self.info(name)
                except IntegrityError:
                    pass  # damaged copy: fetch it again, held to the recorded hash
            expected = entry.sha256 or (old.sha256 if old is not None else None)
            checked: list[Validated] = []
            try:
                result = download(
                    entry.url,
                    paths.file,
                    part=paths.part,
                    expected_size=entry.size,
                    expected_sha256=expected,
                    verify_file=lambda p: checked.append(
                        validate_model_file(p, entry.kind, entry.format)
                    ),
                    progress=progress,
                    cancel=cancel,
                    options=self.options,
                )
            except Cancelled:
                raise
            except DownloadError as exc:
                raise exc.with_hint(manual_hint(name, entry, paths)) from None
            finally:
                remove_if_empty(paths.folder)
            origin = hash_origin(entry, old)
            write_manifest(
                paths.manifest,
                Manifest(
                    name=name,
                    kind=entry.kind,
                    format=checked[-1].format,
                    filename=entry.filename,
                    source=entry.url,
                    size=result.size,
                    sha256=result.sha256,
                    hash_origin=origin,
                    date=now_utc(),
                    licence=entry.licence,
                ),
            )
        return self.info(name)

    def import_file(
        self,
        src: str | os.PathLike[str],
        *,
        name: str | None = None,
        kind: str | None = None,
        replace: bool = False,
    ) -> ModelInfo:
        """Copy a local model file into the cache after loading it successfully.

        The copy is what gets validated (not the source, which could change
        meanwhile). ``name`` defaults to one derived from the file name; a
        registry name imposes its kind and, when published, its sha256.
        """
        src = Path(src).expanduser()
        if not src.is_file():
            raise CheckpointError(src, "file not found" if not src.exists() else "not a file")
        name = check_name(name) if name is not None else name_from_filename(src.name)
        entry = self.registry.get(name)
        if entry is not None and entry.bundled is not None:
            raise StoreError(f"{name!r} is a bundled model; import under another --name")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if entry is not None and kind is not None and kind != entry.kind:
            raise ValueError(f"{name!r} is a {entry.kind} model, not a {kind}")
        kind = entry.kind if entry is not None else kind
        filename = entry.filename if entry is not None else safe_filename(src.name)
        paths = self.layout.paths(name, filename)
        with self._lock(name, None, None):
            old = self._manifest_or_none(name)
            if not replace and (old is not None or model_files(paths.folder)):
                raise StoreError(
                    f"a model named {name!r} is already in the cache; remove it first "
                    "(`streamvox models remove NAME`), choose another --name, or replace it"
                )
            self._import_locked(src, name, kind, entry, paths)
        return self.info(name)

    def remove(self, name: str) -> bool:
        """Delete model ``name`` from the cache (file, manifest, partial download).

        Returns False when nothing was there. Bundled models cannot be removed.
        """
        entry = self.registry.get(check_name(name))
        if entry is not None and entry.bundled is not None:
            raise StoreError(f"{name!r} is bundled with streamvox and cannot be removed")
        folder = self.layout.model_folder(name)
        if entry is None and not folder.exists():
            raise UnknownModelError(f"no model named {name!r} in the cache ({self.root})")
        with self._lock(name, None, None):
            if not folder.exists():
                return False
            shutil.rmtree(folder)
        return True

    # -- internals ---------------------------------------------------------------
    def _info_or_broken(self, name: str) -> ModelInfo:
        try:
            return self.info(name)
        except (StoreError, ValueError, OSError) as exc:
            folder = self.layout.model_folder(name)
            return ModelInfo(
                name=name,
                kind="unknown",
                format="unknown",
                status=STATUS_BROKEN,
                path=folder,
                description=f"{broken_reason(folder, exc)}; remove it with "
                f"`streamvox models remove {name}`",
            )

    def _entry(self, name: str) -> ModelEntry:
        entry = self.registry.get(check_name(name))
        if entry is None:
            known = ", ".join(self.registry)
            raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
        return entry

    def _lock(
        self,
        name: str,
        cancel: CancelCheck | None,
        on_wait: Callable[[str], None] | None,
        timeout: float | None = None,
    ) -> ModelLock:
        folder = self.layout.model_folder(name)
        return ModelLock(
            self.layout.lock_path(name),
            timeout=self.lock_timeout if timeout is None else timeout,
            cancel=cancel,
            on_wait=on_wait,
            discard_if=lambda: not folder.exists(),  # nothing cached: leave no lock file
        )

    def _manifest_or_none(self, name: str) -> Manifest | None:
        try:
            return read_manifest(self.layout.model_folder(name) / "manifest.json")
        except ManifestError:
            return None  # treated as never verified: the next resolve re-checks the file

    def _paths(
        self, name: str, entry: ModelEntry | None, manifest: Manifest | None
    ) -> ModelPaths | None:
        if manifest is not None:
            return self.layout.paths(name, manifest.filename)
        if entry is not None:
            return self.layout.paths(name, entry.filename)
        folder = self.layout.model_folder(name)
        files = sorted(p.name for p in folder.glob("*") if p.is_file() and is_model_name(p))
        return self.layout.paths(name, files[0]) if len(files) == 1 else None

    def _adopt(self, name: str, entry: ModelEntry | None, paths: ModelPaths) -> Path:
        """First use of a file put in the cache by hand: load it, then record its hash."""
        with self._lock(name, None, None):
            if self._manifest_or_none(name) is None:  # absent, or broken: check again
                kind = entry.kind if entry is not None else None
                checked = validate_model_file(paths.file, kind)
                digest = sha256_file(paths.file)
                if entry is not None and entry.sha256 and digest != entry.sha256:
                    raise IntegrityError(paths.file, entry.sha256, digest)
                write_manifest(
                    paths.manifest,
                    new_manifest(name, entry, checked, paths, digest, "placed in the cache"),
                )
        return self.resolve(name)

    def _import_locked(
        self,
        src: Path,
        name: str,
        kind: str | None,
        entry: ModelEntry | None,
        paths: ModelPaths,
    ) -> None:
        paths.folder.mkdir(parents=True, exist_ok=True)
        tmp = paths.folder / f".import-{uuid.uuid4().hex}.tmp"
        try:
            digest = copy_hashing(src, tmp)
            try:
                checked = validate_model_file(tmp, kind)
            except CheckpointError as exc:  # name the person's file, not our temp copy
                raise type(exc)(src, exc.problem) from None
            if entry is not None and entry.sha256 and digest != entry.sha256:
                raise CheckpointError(
                    src, f"sha256 {digest} differs from the published {entry.sha256} for {name!r}"
                )
            for stale in (paths.file, paths.manifest, paths.part, paths.part_info):
                stale.unlink(missing_ok=True)
            os.replace(tmp, paths.file)
            remove_other_files(paths)
            write_manifest(
                paths.manifest,
                new_manifest(
                    name, entry, checked, paths, digest, f"imported from {src.resolve()}"
                ),
            )
        finally:
            tmp.unlink(missing_ok=True)
            remove_if_empty(paths.folder)

    def _not_available_message(self, name: str, entry: ModelEntry | None, paths: ModelPaths) -> str:
        if entry is not None and entry.url is not None:
            return (
                f"model {name!r} is not downloaded yet; run `streamvox models download {name}`.\n"
                + manual_hint(name, entry, paths)
            )
        return f"model {name!r} has no file in {paths.folder}; import it again"


# -- helpers -------------------------------------------------------------------
