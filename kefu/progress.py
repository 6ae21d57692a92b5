"""Progress bars for long ``manage.py`` commands, drawn by tqdm on the command's stderr.

A command makes one ``Progress`` with ``Progress.for_command(self, quiet=options["no_progress"])``
and hands it (or ``progress.counter(stage, total)``) to the service doing the work; each stage
gets its own bar. Nothing is drawn when the command was asked to be quiet or when its stderr is
not a terminal (a pipe, a log file, ``call_command`` in a test), so output stays clean there.
"""

from collections.abc import Callable

from tqdm import tqdm


def add_progress_argument(parser) -> None:
    """The ``--no-progress`` switch every long command takes."""
    parser.add_argument("--no-progress", action="store_true", help="draw no progress bar")


class Progress:
    """One tqdm bar per stage, created on first report, closed by ``close()`` or on leaving a ``with``.

    Called as ``progress(stage, done, total)`` it sets the bar of ``stage`` to ``done`` of
    ``total``: the form services take (``Callable[[str, int, int], None]``).
    """

    def __init__(self, *, stream, enabled: bool = True):
        self.stream = stream
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    @classmethod
    def for_command(cls, command, *, quiet: bool = False) -> "Progress":
        # The command's own stream (call_command(stderr=…) included), unwrapped: Django's
        # OutputWrapper ends every write with a newline, which would break the bar's redraws.
        stream = getattr(command.stderr, "_out", command.stderr)
        is_terminal = getattr(stream, "isatty", lambda: False)()
        return cls(stream=stream, enabled=not quiet and is_terminal)

    def _bar(self, stage: str, total: int | None) -> tqdm:
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, file=self.stream, leave=False, mininterval=0.5,
                                          disable=not self.enabled)
        elif total is not None and bar.total != total:
            bar.total = total
        return bar

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self._bar(stage, total)
        bar.update(done - bar.n)

    def advance(self, stage: str, count: int = 1, *, total: int | None = None) -> None:
        """Move the bar of ``stage`` on by ``count``."""
        if not self.enabled:
            return
        self._bar(stage, total).update(count)

    def counter(self, stage: str, total: int) -> Callable[[int], None]:
        """A ``progress(count)`` callable for services that report how many more are done."""
        return lambda count=1: self.advance(stage, count, total=total)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
