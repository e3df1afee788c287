"""Entry point of the frozen ``streamvox`` executable (PyInstaller; also fine unfrozen).

A frozen app has no Python interpreter to start helper processes with:
``sys.executable`` is ``streamvox`` itself. The helpers the app starts
therefore re-enter this binary, and this module routes them before the
normal command line sees their arguments:

* multiprocessing's spawned children (the GUI's engine process):
  :func:`multiprocessing.freeze_support`, which PyInstaller's runtime hook
  makes work on every platform;
* ``--audio-host ...``: the audio host process (``engine.audio.host``);
* ``-m MODULE ...`` for the few modules the app runs as ``python -m``
  (device listing, the Lab's audio player, the GUI smoke test of
  ``self-test``): their ``main(argv)``.

Everything else is the ``streamvox`` command line (:func:`app.cli.main`).
"""

from __future__ import annotations

import importlib
import multiprocessing
import sys

#: Modules the app starts as ``sys.executable -m MODULE``; the spec bundles each,
#: and each has ``main(argv) -> int``.
HELPER_MODULES = ("engine.audio.devices", "engine.lab.player_child", "app.smoke")
AUDIO_HOST_FLAG = "--audio-host"


def dispatch(argv: list[str]) -> int:
    """Route one command line (without the program name); returns the exit code."""
    if argv[:1] == [AUDIO_HOST_FLAG]:
        from engine.audio import host_main

        host_main.main(argv[1:])  # exits the process itself
        return 0
    if argv[:1] == ["-m"]:
        return _run_module(argv[1:])
    from app.cli import main

    return main(argv)


def _run_module(argv: list[str]) -> int:
    """``-m MODULE ARGS``: call the helper's ``main(ARGS)``, as its ``__main__`` block does."""
    if not argv or argv[0] not in HELPER_MODULES:
        name = argv[0] if argv else "(none)"
        print(
            f"streamvox: -m {name}: not a module this build runs "
            f"(available: {', '.join(HELPER_MODULES)})",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(argv[0])
    try:
        return int(module.main(argv[1:]) or 0)
    except SystemExit as exc:  # argparse errors and --help
        return _exit_code(exc.code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main() -> None:
    """Process entry: multiprocessing children first, then :func:`dispatch`."""
    multiprocessing.freeze_support()
    sys.exit(dispatch(sys.argv[1:]))


if __name__ == "__main__":
    main()
