"""kombu's filesystem transport (the embedded broker, no server to install) with whole-file messages.

kombu's ``Channel._put`` creates the message file under its final name, then locks and writes it; a worker
listing the folder meanwhile moves and reads it without taking the lock, and gets an empty or half-written
file: a ``JSONDecodeError`` in the worker and a lost task. Here a message is written to a hidden temporary
file in the same folder and renamed to its final name once complete (``os.replace`` is atomic on one
filesystem), so a reader only ever sees whole messages.

A reader takes a message by renaming it out of the folder; kombu renames it into the system's temporary
folder, which is often another filesystem (tmpfs), where ``shutil.move`` copies, then deletes: two workers
can both copy the file before either deletes it, and the loser leaves its copy behind. Here a message is
taken into a hidden folder next to the queue, on the same filesystem, where the rename is atomic: exactly
one reader gets each message (with ``store_processed`` it is moved on to the processed folder after).

Selected in settings by ``CELERY_BROKER_TRANSPORT = "kefu.broker:FilesystemTransport"`` with a
``filesystem://`` URL; the folders and options are kombu's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

# Names kombu's listing skips: it reads files named ``<stamp>_<uuid>.<queue>.msg`` only.
PARTIAL_PREFIX, PARTIAL_SUFFIX = ".", ".partial"
TAKEN_FOLDER = ".taken"


class FilesystemChannel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` on ``queue``: written whole to a hidden file, then renamed into the queue."""
        folder = self.data_folder_out
        final = os.path.join(folder, f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg")
        try:
            descriptor, partial = tempfile.mkstemp(dir=folder, prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX)
        except OSError as exc:
            raise ChannelError(f"Cannot add a file to {folder!r}") from exc
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        """Take the oldest message of ``queue``: the one reader whose rename succeeds gets it."""
        wanted = f"{queue}.msg"
        taken_folder = os.path.join(self.data_folder_in, TAKEN_FOLDER)
        os.makedirs(taken_folder, exist_ok=True)
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            taken = os.path.join(taken_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except OSError:
                continue  # another reader took it first
            try:
                with open(taken, "rb") as file:
                    payload = file.read()
                if self.store_processed:
                    os.makedirs(self.processed_folder, exist_ok=True)
                    shutil.move(taken, os.path.join(self.processed_folder, name))
                else:
                    os.remove(taken)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()


class FilesystemTransport(filesystem.Transport):
    Channel = FilesystemChannel
