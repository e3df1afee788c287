"""The stage builder's worker thread ends with it (no thread left to die at exit)."""

import subprocess
import sys
import textwrap

from engine.live.builder import StageBuilder
from tests.audio.toy_stages import toy_factory


def test_close_waits_for_the_worker():
    builder = StageBuilder()
    built = builder.build(1, "codec,vocoder", 1, toy_factory(), timeout=30.0)
    assert set(built.stages) == {"codec", "vocoder", "codec+vocoder"}
    builder.close()
    assert not builder._thread.is_alive()


def test_a_process_that_built_real_models_exits_cleanly():
    # Before close() waited, the worker could still be freeing the stage set's
    # tensors while the interpreter shut down: abort, exit status 134.
    code = textwrap.dedent(
        """
        from engine.live.builder import StageBuilder
        from engine.live.taps import ModelStageFactory
        b = StageBuilder()
        b.build(1, "vocoder", 1, ModelStageFactory(), timeout=60.0)
        b.close()
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-500:]
