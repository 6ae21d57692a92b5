from customer_service.desktop import drift
from customer_service.desktop.drift import DriftMonitor


def test_window_problems_pause_at_once_with_their_reason():
    monitor = DriftMonitor()

    assert monitor.window(found=False).reason == drift.WINDOW_NOT_FOUND
    assert monitor.window(found=True, covered="covered by '提示'").reason == drift.WINDOW_COVERED
    assert monitor.window(found=True, off_screen="off the screen: transcript").reason == drift.WINDOW_OFF_SCREEN
    assert monitor.window(found=True, resized="800×600").reason == drift.WINDOW_RESIZED
    assert monitor.window(found=True) is None


def test_reading_nothing_plausible_pauses_after_n_reads_in_a_row_and_a_good_read_resets():
    monitor = DriftMonitor(polls=3)

    assert monitor.reading(nick=None, lines=2, confidence=0.9) is None
    assert monitor.reading(nick="小明", lines=2, confidence=0.9) is None  # resets
    assert monitor.reading(nick="小明", lines=0, confidence=None) is None
    assert monitor.reading(nick="小明", lines=0, confidence=None) is None
    signal = monitor.reading(nick="小明", lines=0, confidence=None)
    assert signal.reason == drift.NOTHING_PLAUSIBLE and "transcript" in signal.detail


def test_low_confidence_pauses_after_n_reads_in_a_row():
    monitor = DriftMonitor(polls=2, min_confidence=0.7)

    assert monitor.reading(nick="小明", lines=1, confidence=0.5) is None
    assert monitor.reading(nick="小明", lines=1, confidence=0.4).reason == drift.LOW_CONFIDENCE


def test_two_unconfirmed_sends_in_a_row_pause_and_a_confirmed_one_resets():
    monitor = DriftMonitor(unconfirmed_sends=2)

    assert monitor.send(status="unknown") is None
    assert monitor.send(status="confirmed") is None
    assert monitor.send(status="unknown") is None
    assert monitor.send(status="unknown").reason == drift.SENDS_UNCONFIRMED
