"""What the helper processes share (engine.audio.child)."""


def test_a_pipe_closed_under_its_reader_ends_the_lines_quietly():
    """stop() closes a child's pipes while a reader thread may be in a read (seen in CI)."""
    from engine.audio.child import pipe_lines

    def closed_midway():
        yield b"first\n"
        raise ValueError("PyMemoryView_FromBuffer(): info->buf must not be NULL")

    assert list(pipe_lines(closed_midway())) == [b"first\n"]
    assert list(pipe_lines(iter([b"a\n", b"b\n"]))) == [b"a\n", b"b\n"]
