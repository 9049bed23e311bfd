"""A fast fake provider for benchmarks: raw asyncio HTTP/1.1 with keep-alive, in its own process.

It answers Africa's Talking's ``/version1/messaging`` (many recipients per request) and
Twilio's ``Messages.json`` (one per request) in their wire formats, and ``GET /count`` with
how many requests and recipients it took. The test fakes (threaded http.server) would be the
bottleneck at thousands of requests per second; this one is not.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
from urllib.parse import parse_qs

COUNTS = {"requests": 0, "recipients": 0}


def _at_answer(body: bytes) -> bytes:
    form = parse_qs(body.decode())
    numbers = form.get("to", [""])[0].split(",")
    COUNTS["recipients"] += len(numbers)
    recipients = [{"statusCode": 101, "number": n, "status": "Success", "cost": "MAD 0.2500",
                   "messageId": f"ATXid_{COUNTS['requests']}_{i}", "messageParts": 1}
                  for i, n in enumerate(numbers)]
    return json.dumps({"SMSMessageData": {"Message": f"Sent to {len(numbers)}",
                                          "Recipients": recipients}}).encode()


def _twilio_answer(body: bytes) -> bytes:
    COUNTS["recipients"] += 1
    return (b'{"sid": "SM%032d", "status": "queued", "num_segments": "1", "price": null, '
            b'"error_code": null}' % COUNTS["requests"])


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            parts = line.split(b" ")
            path = parts[1] if len(parts) > 1 else b"/"
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            status = b"201 Created"
            if path == b"/count":
                payload, status = json.dumps(COUNTS).encode(), b"200 OK"
            elif path == b"/reset":
                COUNTS.update(requests=0, recipients=0)
                payload, status = b"{}", b"200 OK"
            elif path.endswith(b"/Messages.json"):
                COUNTS["requests"] += 1
                payload = _twilio_answer(body)
            elif path == b"/version1/messaging":
                COUNTS["requests"] += 1
                payload = _at_answer(body)
            else:
                payload, status = b'{"error": "not found"}', b"404 Not Found"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def _run(sock: socket.socket) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_serve, sock=sock, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start() -> tuple[multiprocessing.Process, str]:
    """Start the fake in a child process; return it and its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    process = multiprocessing.get_context("fork").Process(target=_run, args=(sock,), daemon=True)
    process.start()
    sock.close()
    return process, f"http://127.0.0.1:{port}"
