"""The app's Redis handle: one client per process, however many threads ask for it first."""

from __future__ import annotations

import threading
from pathlib import Path

from smsgateway.redisconn import RedisHandle

THREADS = 16


def test_threads_meeting_the_first_request_share_one_client(tmp_path: Path) -> None:
    # A gunicorn worker's threads all take their first request at once. Each making a client
    # of its own dropped all but one, and a dropped client's pool closed sockets that another
    # thread was still reading (500s on the first requests of a benchmark).
    # The embedded server: its start gives the threads time to meet in the first call.
    handle = RedisHandle(None, str(tmp_path))
    start = threading.Barrier(THREADS)
    clients: list[object] = []

    def first_request() -> None:
        start.wait()
        client = handle.client
        client.ping()
        clients.append(client)

    threads = [threading.Thread(target=first_request) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == THREADS
    assert len({id(client) for client in clients}) == 1
    handle.close()
