"""The desktop side on a real X11 window: the fake Qianniu window under a private Xvfb.

Measures, and prints with the command to rerun them:

* the unread check of an idle poll (capture of the list and transcript regions + badges + change score);
* OCR of one new buyer line, warm (models loaded, the older lines already read): kefu's way (own line finding,
  recognition only, lines remembered by their pixels) with 1 and 2 threads, against RapidOCR's full pass
  (detection + recognition) over the transcript region, with its default and with native-size detection;
* CPU share of an idle poller polling every second;
* a new buyer line on screen → read by a poll → a reply pasted, submitted and confirmed by read-back (the
  desktop's share of the round trip; the decision in between belongs to the reply pipeline), polling every
  ``--interval`` seconds.

Run: .venv/bin/python bench/desktop.py [--polls 300] [--lines 12] [--idle-seconds 20] [--rounds 10]
     [--interval 1.0] [--layout default|alt]
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from customer_service.desktop.dedupe import MemorySeenStore  # noqa: E402
from customer_service.desktop.ocr import OcrEngine  # noqa: E402
from customer_service.desktop.poller import Poller, PollSettings  # noqa: E402
from customer_service.desktop.sender import CONFIRMED, Sender  # noqa: E402
from customer_service.desktop.transcript import parse_transcript  # noqa: E402
from customer_service.desktop.unread import UnreadCheck  # noqa: E402
from tests.e2e.desktop_harness import ALT_LAYOUT, FakeWindow, Xvfb  # noqa: E402

QUESTIONS = ["这款有XL码吗", "什么时候发货呀", "可以便宜一点吗", "发什么快递", "有没有赠品", "能开发票吗",
             "颜色和图片一样吗", "洗了会缩水吗", "包邮吗亲", "今天下单明天能到吗", "支持七天无理由吗", "有现货吗"]


def ms(values):
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   (n={len(values)})"


def settings_for(window):
    badge = window.layout.get("badge_colour", "#ff3b30").lstrip("#")
    return PollSettings(title=window.title, regions=window.regions, window_size=window.size,
                        badge_rgb=tuple(int(badge[i:i + 2], 16) for i in (0, 2, 4)))


def bench_unread(desktop, window, polls):
    found = desktop.find_window(window.title)
    lst = window.regions.conversation_list.offset(found.rect.x, found.rect.y)
    tr = window.regions.transcript.offset(found.rect.x, found.rect.y)
    check, times = UnreadCheck(), []
    check.check(desktop.capture(lst), desktop.capture(tr))
    for _ in range(polls):
        start = time.perf_counter()
        result = check.check(desktop.capture(lst), desktop.capture(tr))
        times.append(time.perf_counter() - start)
        assert not result.triggered
    return times


def bench_idle_poll(desktop, window, polls):
    """A whole idle poll: the window (found again, checked for size, screen and cover) and the unread check.
    Wall time, and the CPU time of this process (what the poll itself costs, without waiting for a core)."""
    poller = Poller(desktop, OcrEngine(), MemorySeenStore(), settings_for(window))
    poller.poll()
    walls, cpus = [], []
    for _ in range(polls):
        wall, cpu = time.perf_counter(), time.process_time()
        result = poller.poll()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert result.status == "idle", result
    return walls, cpus


def bench_ocr(desktop, window, lines, threads):
    """Per new buyer line: kefu's read of the whole transcript with older lines remembered."""
    engine = OcrEngine(threads=threads)
    engine.engine  # noqa: B018 - load before timing
    found = desktop.find_window(window.title)
    tr = window.regions.transcript.offset(found.rect.x, found.rect.y)
    engine.read(desktop.capture(tr))
    times, model_lines = [], []
    for i in range(lines):
        window.buyer("买家测速", QUESTIONS[i % len(QUESTIONS)] + f"（{threads}-{i}）")  # new pixels every run
        time.sleep(0.1)
        image = desktop.capture(tr)
        calls = engine.model_calls
        start = time.perf_counter()
        pieces = engine.read(image)
        parse_transcript(pieces, tr.width, tr.height)
        times.append(time.perf_counter() - start)
        model_lines.append(engine.model_calls - calls)
    return times, statistics.mean(model_lines)


def bench_full_pass(desktop, window, rounds, **options):
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, **options)
    found = desktop.find_window(window.title)
    image = desktop.capture(window.regions.transcript.offset(found.rect.x, found.rect.y)).copy()
    engine(image, use_cls=False)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        engine(image, use_cls=False)
        times.append(time.perf_counter() - start)
    return times, image.shape


def bench_idle_cpu(desktop, window, seconds, interval):
    poller = Poller(desktop, OcrEngine(), MemorySeenStore(), settings_for(window))
    poller.poll()
    wall, cpu = time.monotonic(), time.process_time()
    polls = 0
    while time.monotonic() - wall < seconds:
        tick = time.monotonic()
        poller.poll()
        polls += 1
        time.sleep(max(0.0, interval - (time.monotonic() - tick)))
    return (time.process_time() - cpu) / (time.monotonic() - wall), polls


def bench_round_trip(desktop, window, rounds, interval, lock_dir):
    engine = OcrEngine()
    engine.engine  # noqa: B018
    sender = Sender(desktop, engine, lock_path=Path(lock_dir) / "send.lock")
    poller = Poller(desktop, engine, MemorySeenStore(), settings_for(window), lock=sender.lock,
                    recent_outgoing=sender.recent_outgoing)
    window.buyer("买家往返", "你好")
    poller.poll()
    read_times, send_times, totals = [], [], []
    next_poll = time.monotonic()
    for i in range(rounds):
        # The line appears at a random point of the polling cycle, as a buyer's would.
        time.sleep(interval * ((i * 0.37) % 1.0))
        window.buyer("买家往返", QUESTIONS[i % len(QUESTIONS)])
        shown = time.monotonic()
        while True:
            now = time.monotonic()
            if next_poll < now:  # the next tick of a steady cadence
                next_poll += interval * math.ceil((now - next_poll) / interval)
            time.sleep(max(0.0, next_poll - now))
            next_poll += interval
            polled = time.monotonic()
            result = poller.poll()
            new = [r for read in result.reads for r in read.new_buyer]
            if new:
                break
        read_at = time.monotonic()
        outcome = sender.send(title=window.title, regions=window.regions, conversation="买家往返",
                              text=f"亲，第{i}个问题的回答在这里哦")
        done = time.monotonic()
        if outcome.status != CONFIRMED:
            print(f"  round {i}: {outcome.status} ({outcome.reason})")
            continue
        read_times.append(read_at - polled)
        send_times.append(done - read_at)
        totals.append(done - shown)
    return read_times, send_times, totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--lines", type=int, default=12)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--layout", choices=["default", "alt"], default="default")
    args = parser.parse_args()

    from customer_service.desktop.platform.x11 import X11Desktop

    xvfb = Xvfb()
    os.environ["DISPLAY"] = xvfb.display
    window = FakeWindow(xvfb.display, ALT_LAYOUT if args.layout == "alt" else None)
    desktop = X11Desktop(xvfb.display)
    try:
        print(f"kefu desktop bench — {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start, "
              f"layout {args.layout}, transcript region {window.regions.transcript.width}×"
              f"{window.regions.transcript.height}")
        window.buyer("买家测速", "在吗")
        window.seller("买家测速", "在的亲，请问有什么可以帮您")
        window.command("open", nick="买家测速")

        print("\nunread check per idle poll (2 captures + badges + change):")
        print("  " + ms(bench_unread(desktop, window, args.polls)))
        walls, cpus = bench_idle_poll(desktop, window, args.polls)
        print("whole idle poll (window refreshed and checked + the unread check):")
        print(f"  wall {ms(walls)}\n  CPU  {ms(cpus)}")

        print("\nOCR per new buyer line, warm:")
        for threads in (1, 2):
            times, calls = bench_ocr(desktop, window, args.lines, threads)
            print(f"  kefu: line finding + recognition, {threads} thread(s): {ms(times)}; "
                  f"{calls:.1f} pieces to the model per line")
        for label, options in (("RapidOCR full pass, default detection (min side 736)", {}),
                               ("RapidOCR full pass, native-size detection", {"det_limit_type": "max",
                                                                              "det_limit_side_len": 1280})):
            times, shape = bench_full_pass(desktop, window, 3, **options)
            print(f"  {label}, {shape[1]}×{shape[0]}, 1 thread: {ms(times)}")

        print(f"\nidle poller CPU share, polling every {args.interval:g} s for {args.idle_seconds:g} s:")
        share, polls = bench_idle_cpu(desktop, window, args.idle_seconds, args.interval)
        print(f"  {share * 100:.2f} % of one core over {polls} polls")

        print(f"\nnew buyer line on screen → reply confirmed by read-back (polling every {args.interval:g} s, "
              "reply delay 0, no pipeline in between):")
        with tempfile.TemporaryDirectory() as tmp:
            read_times, send_times, totals = bench_round_trip(desktop, window, args.rounds, args.interval, tmp)
        if totals:
            print(f"  reading poll (check + OCR + align): {ms(read_times)}")
            print(f"  send (focus, paste, Enter, read-back): {ms(send_times)}")
            print(f"  line on screen → confirmed:          {ms(totals)}")
        print(f"\nload average at end {os.getloadavg()[0]:.1f}")
        print("command: .venv/bin/python bench/desktop.py " + " ".join(sys.argv[1:]))
    finally:
        desktop.close()
        window.stop()
        xvfb.stop()


if __name__ == "__main__":
    main()
