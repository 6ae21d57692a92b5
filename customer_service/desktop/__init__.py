"""The desktop side: kefu reads the Qianniu window as a person does and types into it as a person does.

This package holds no Django: it is the part that runs on the seller's PC, and the Django layer (tasks,
records, settings) calls it with plain data.

- ``platform``: one module per windowing system (find a window, its rectangle, front, capture, click, paste,
  key) over :class:`~customer_service.desktop.platform.base.Desktop`;
- ``geometry``: rectangles and the regions of the window, as settings describe them;
- ``imaging``: numpy work on captures: text-line segmentation and what changed between two frames;
- ``unread``: the cheap per-poll check (red badges, transcript change) and the order of unread conversations;
- ``ocr``: RapidOCR with the models inside its wheel; ``transcript``: OCR pieces → lines with speaker and time;
- ``text``: the normalisation OCR output goes through before it is compared or stored;
- ``dedupe``: fingerprints and the alignment that finds the lines not seen before, over a storage interface;
- ``sender``: the one sender per desktop, with read-back; ``drift``: when to stop and call a person;
- ``poller``: one poll of one window, putting the above together.
"""
