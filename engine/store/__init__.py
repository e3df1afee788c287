"""Per-user model store: registry, cache, resumable verified downloads, safe import.

The GUI and ``streamvox models`` use :class:`ModelStore`; the loaders get
paths from :meth:`ModelStore.resolve`.
"""

from engine.store.cache import ENV_VAR, default_root, resolve_root
from engine.store.download import DownloadOptions, DownloadResult, download, sha256_file
from engine.store.errors import (
    Cancelled,
    DownloadCancelled,
    DownloadError,
    HttpStatusError,
    InsufficientSpaceError,
    IntegrityError,
    LockTimeoutError,
    ModelNotAvailableError,
    NetworkError,
    NotAModelFileError,
    StoreError,
    UnknownModelError,
    VerificationError,
)
from engine.store.info import (
    STATUS_BROKEN,
    STATUS_BUNDLED,
    STATUS_CACHED,
    STATUS_MISSING,
    STATUS_NOT_DOWNLOADED,
    STATUS_UNVERIFIED,
    ModelInfo,
)
from engine.store.registry import DEFAULT_REGISTRY, ModelEntry, Registry
from engine.store.store import ModelStore

__all__ = [
    "DEFAULT_REGISTRY",
    "ENV_VAR",
    "STATUS_BROKEN",
    "STATUS_BUNDLED",
    "STATUS_CACHED",
    "STATUS_MISSING",
    "STATUS_NOT_DOWNLOADED",
    "STATUS_UNVERIFIED",
    "Cancelled",
    "DownloadCancelled",
    "DownloadError",
    "DownloadOptions",
    "DownloadResult",
    "HttpStatusError",
    "InsufficientSpaceError",
    "IntegrityError",
    "LockTimeoutError",
    "ModelEntry",
    "ModelInfo",
    "ModelNotAvailableError",
    "ModelStore",
    "NetworkError",
    "NotAModelFileError",
    "Registry",
    "StoreError",
    "UnknownModelError",
    "VerificationError",
    "default_root",
    "download",
    "resolve_root",
    "sha256_file",
]
