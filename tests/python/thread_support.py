"""Running test workers on several threads at once, for the thread tests."""

import threading

# A guard against a deadlock hanging the suite forever; it is not a speed check.
DEADLOCK_GUARD_SECONDS = 300


def run_in_threads(count, worker):
    """Start `count` threads together on worker(index); return their errors."""
    barrier = threading.Barrier(count)
    errors = []

    def target(index):
        try:
            barrier.wait(timeout=DEADLOCK_GUARD_SECONDS)
            worker(index)
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLOCK_GUARD_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a thread never finished"
    return errors
