"""The embedded broker (kefu.broker, kombu's filesystem transport): a message file is only ever seen whole,
and each message is taken by exactly one reader, with several processes writing and reading at once."""

import json
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from kombu import Connection

from kefu.broker import FilesystemTransport


def connect(folder: Path, transport=FilesystemTransport) -> Connection:
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    (folder / "control").mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://localhost//", transport=transport, transport_options={
        "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"), "store_processed": False,
    })


def torn_reads_while_writing(folder: Path, transport, *, messages: int, size: int) -> tuple[int, int]:
    """Write ``messages`` payloads of ``size`` characters while another thread reads every ``.msg`` file
    the moment it appears. Returns (files read, files that were not a whole JSON document)."""
    connection = connect(folder, transport)  # creates the folders the watcher lists
    queue = folder / "queue"
    done = threading.Event()
    seen, torn = set(), []

    def watch():
        while not done.is_set() or any(name.endswith(".msg") and name not in seen for name in os.listdir(queue)):
            for name in os.listdir(queue):
                if not name.endswith(".msg") or name in seen:
                    continue
                seen.add(name)
                try:
                    json.loads((queue / name).read_bytes())
                except ValueError:
                    torn.append(name)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with connection:
        channel = connection.default_channel
        for i in range(messages):
            channel._put("default", {"i": i, "body": "长" * size})
    done.set()
    watcher.join()
    return len(seen), len(torn)


def test_a_message_file_appears_only_when_it_is_whole(tmp_path):
    # kombu's own transport creates the file under its final name and writes it after: with messages of a
    # few megabytes a reader catches most of them empty or half-written (the flaky make-run test's
    # JSONDecodeError). Here every file a reader can see parses.
    seen, torn = torn_reads_while_writing(tmp_path, FilesystemTransport, messages=20, size=1_000_000)
    assert seen == 20
    assert torn == 0
    assert not [name for name in os.listdir(tmp_path / "queue") if name.endswith(".partial")]


def test_a_queue_round_trip_through_kombu(tmp_path):
    with connect(tmp_path) as connection:
        queue = connection.SimpleQueue("default")
        queue.put({"text": "亲，在的～"})
        message = queue.get(timeout=5)
        assert message.payload == {"text": "亲，在的～"}
        message.ack()
        queue.close()


def _produce(folder: str, start: int, count: int) -> None:
    with connect(Path(folder)) as connection:
        channel = connection.default_channel
        for i in range(start, start + count):
            channel._put("default", {"i": i, "body": "买" * (i % 50) * 200})


def _consume(folder: str, expected: int, results) -> None:
    from queue import Empty

    taken, bad = [], 0
    with connect(Path(folder)) as connection:
        channel = connection.default_channel
        idle = 0
        while idle < 400:
            try:
                payload = channel._get("default")
            except Empty:
                idle += 1
                threading.Event().wait(0.005)
                continue
            except ValueError:
                bad += 1
                continue
            idle = 0
            taken.append(payload["i"])
    results.put((taken, bad))


def test_several_processes_writing_and_reading_take_each_message_exactly_once(tmp_path):
    producers, per_producer, consumers = 3, 200, 3
    total = producers * per_producer
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    readers = [context.Process(target=_consume, args=(str(tmp_path), total, results)) for _ in range(consumers)]
    writers = [context.Process(target=_produce, args=(str(tmp_path), p * per_producer, per_producer))
               for p in range(producers)]
    for process in readers + writers:
        process.start()
    outcomes = [results.get(timeout=120) for _ in readers]
    for process in readers + writers:
        process.join(30)
    taken = sorted(i for got, _ in outcomes for i in got)
    assert sum(bad for _, bad in outcomes) == 0
    assert taken == list(range(total))  # none lost, none twice
    assert all(got for got, _ in outcomes), "every reader took some"
    queue = tmp_path / "queue"
    assert not [name for name in os.listdir(queue) if name.endswith((".msg", ".partial"))]
    assert os.listdir(queue / ".taken") == []


@pytest.mark.parametrize("url, transport", [("filesystem://localhost//", "kefu.broker:FilesystemTransport"),
                                            ("redis://127.0.0.1:6379/0", "None")])
def test_the_settings_choose_this_transport_for_the_filesystem_broker_only(tmp_path, url, transport):
    env = {**os.environ, "CELERY_BROKER_URL": url, "DJANGO_READ_DOT_ENV_FILE": "false", "KEFU_VAR_DIR": str(tmp_path)}
    shown = subprocess.run(
        [sys.executable, "-c", "import kefu.settings.base as s; print(s.CELERY_BROKER_TRANSPORT)"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert shown.stdout.strip() == transport
    assert django_settings.CELERY_BROKER_TRANSPORT is None  # the tests' own broker (memory or Redis)


def test_store_processed_keeps_each_message_taken_in_the_processed_folder(tmp_path):
    connection = connect(tmp_path)
    connection.transport_options["store_processed"] = True
    connection.transport_options["processed_folder"] = str(tmp_path / "processed")
    with connection:
        channel = connection.default_channel
        channel._put("default", {"i": 1})
        assert channel._get("default") == {"i": 1}
    kept = os.listdir(tmp_path / "processed")
    assert len(kept) == 1 and json.loads((tmp_path / "processed" / kept[0]).read_bytes()) == {"i": 1}
