"""Two or more writers released at the same moment, for the compare-and-swap tests."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(commits: list[Callable[[], int]]) -> tuple[list[int], list[BaseException]]:
    """Run the commits in threads released by one barrier: the versions won, the errors."""
    barrier = threading.Barrier(len(commits))
    won: list[int] = []
    lost: list[BaseException] = []
    lock = threading.Lock()

    def run(commit: Callable[[], int]) -> None:
        barrier.wait()
        try:
            version = commit()
        except BaseException as exc:
            with lock:
                lost.append(exc)
        else:
            with lock:
                won.append(version)

    threads = [threading.Thread(target=run, args=(c,)) for c in commits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost
