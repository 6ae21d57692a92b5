import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import BaseCommand

from kefu.progress import Progress


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def terminal():
    """A real pseudo-terminal: the command's stderr as a person running it would have it."""
    reader, writer = os.openpty()
    stream = os.fdopen(writer, "w", encoding="utf-8", buffering=1)
    yield reader, stream
    if not stream.closed:
        stream.close()
    os.close(reader)


def test_a_command_on_a_terminal_draws_one_bar_per_stage(terminal):
    reader, stream = terminal
    command = BaseCommand(stderr=stream)
    with Progress.for_command(command) as progress:
        assert progress.enabled
        progress("validate", 3, 10)
        progress.advance("import", 2, total=4)
        count = progress.counter("reindex", 5)
        count(5)
        assert (progress.bars["validate"].n, progress.bars["import"].n, progress.bars["reindex"].n) == (3, 2, 5)
    stream.close()
    drawn = _read_all(reader)
    # tqdm redraws at most twice a second: the first drawing of each bar is what is sure to be there.
    assert "validate:   0%" in drawn and "0/10" in drawn and "import:   0%" in drawn and "0/4" in drawn


def test_a_command_asked_to_be_quiet_draws_nothing(terminal):
    reader, stream = terminal
    with Progress.for_command(BaseCommand(stderr=stream), quiet=True) as progress:
        progress("validate", 3, 10)
        progress.advance("import")
        assert not progress.bars
    stream.write("end\n")
    stream.close()
    assert _read_all(reader).strip() == "end"


def test_a_command_whose_stderr_is_not_a_terminal_draws_nothing():
    err = StringIO()
    with Progress.for_command(BaseCommand(stderr=err)) as progress:
        assert not progress.enabled
        progress("validate", 3, 10)
    assert err.getvalue() == ""


@pytest.mark.django_db
def test_long_commands_take_no_progress_and_write_no_bar_into_captured_output(world):
    err = StringIO()
    call_command("kb_reindex", "--stale-only", stdout=StringIO(), stderr=err)
    call_command("rotate_encryption_key", stdout=StringIO(), stderr=err)
    assert "reindex" not in err.getvalue() and "\r" not in err.getvalue()
