"""The installed Qt binding does not lose references on signal emission.

PySide6 6.12.0's ``SignalInstance.emit()`` returns ``True`` without a new
reference. On Python 3.11 (bools are not immortal) every emit lowers
True's refcount by one, and after a few thousand emits (pyqtgraph emits one
per repaint of every plot) the interpreter aborts with "bool_dealloc". The
GUI would crash within a minute of metering; this test keeps that version out.
"""

import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    fired = Signal(int)


def test_emit_keeps_refcounts(qtbot):
    e = Emitter()
    got = []
    e.fired.connect(got.append)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for i in range(2000):
        e.fired.emit(i)
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert len(got) == 2000
    # a handful of references may come and go elsewhere; 2000 lost ones may not
    assert abs(after[0] - before[0]) < 50 and abs(after[1] - before[1]) < 50
