"""A tqdm progress bar on stderr for the knowledge commands; silent when asked or when stderr is not a terminal."""

from tqdm import tqdm


class Progress:
    def __init__(self, *, enabled: bool, stream):
        self.enabled = enabled
        self.stream = stream
        self.bars = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, file=self.stream, leave=False, mininterval=0.5)
        bar.update(done - bar.n)

    def close(self):
        for bar in self.bars.values():
            bar.close()
