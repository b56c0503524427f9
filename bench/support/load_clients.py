"""Load clients for bench/door_under_load.py. Each runs as its own process, like a real client,
and talks to the web process over HTTP only:

    python bench/support/load_clients.py logins URL
        Waves of 40 concurrent wrong logins (POST URL/api/v1/auth/token, JSON body). Every
        request has its own unknown username and its own source address in 127.0.0.0/8, so the
        login throttle (5 per username, 20 per address in 15 minutes) never answers 429 before
        hashing: each request runs argon2 (64 MiB) in the web process.
    python bench/support/load_clients.py schedule URL USERNAME PASSWORD SCHEDULE_JSON_FILE...
        Gets a token for USERNAME, then PUTs the schedules to URL/api/v1/schedule back to back,
        taking the files in turn (so that every upload changes the stored schedule).

Each prints `running` once its first request has been answered, keeps going until its stdin
closes, then prints one JSON line of counts and exits. Only httpx and the standard library.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

CONCURRENT_LOGINS = 40
TOKEN_PATH = "/api/v1/auth/token"
SCHEDULE_PATH = "/api/v1/schedule"


def _stop_at_eof(stop: threading.Event) -> None:
    try:
        while os.read(sys.stdin.fileno(), 4096):
            pass
    except OSError:
        pass
    stop.set()


def _address(k: int) -> str:
    """The k-th (k >= 1) distinct loopback source address: 127.1.0.1, 127.1.0.2, ..."""
    k -= 1
    return f"127.{1 + k // (254 * 256)}.{(k // 254) % 256}.{1 + k % 254}"


def logins(url: str, stop: threading.Event) -> dict:
    run = uuid.uuid4().hex[:8]
    statuses: Counter[str] = Counter()
    seconds: list[float] = []
    lock = threading.Lock()

    def one(k: int) -> None:
        started = time.perf_counter()
        transport = httpx.HTTPTransport(local_address=_address(k))
        try:
            with httpx.Client(transport=transport, timeout=120) as client:
                status = str(
                    client.post(
                        url + TOKEN_PATH,
                        json={"username": f"guess-{run}-{k}", "password": f"wrong-{k}-password"},
                    ).status_code
                )
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        with lock:
            statuses[status] += 1
            seconds.append(time.perf_counter() - started)

    waves, k = 0, 0
    with ThreadPoolExecutor(CONCURRENT_LOGINS) as pool:
        while not stop.is_set():
            futures = []
            for _ in range(CONCURRENT_LOGINS):
                k += 1
                futures.append(pool.submit(one, k))
            for future in futures:
                future.result()
            waves += 1
            if waves == 1:
                print("running", flush=True)
    return {
        "waves": waves,
        "requests": k,
        "statuses": dict(statuses),
        "request_p50_s": statistics.median(seconds) if seconds else None,
    }


def schedule(url: str, username: str, password: str, paths: list[str], stop: threading.Event) -> dict:
    bodies = [open(path, "rb").read() for path in paths]
    with httpx.Client(
        base_url=url, timeout=120, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    ) as client:
        answer = client.post(TOKEN_PATH, json={"username": username, "password": password})
        answer.raise_for_status()
        headers = {
            "Authorization": f"Bearer {answer.json()['access_token']}",
            "Content-Type": "application/json",
        }
        statuses: Counter[str] = Counter()
        applied: Counter[str] = Counter()
        seconds: list[float] = []
        while not stop.is_set():
            started = time.perf_counter()
            reply = client.put(SCHEDULE_PATH, content=bodies[len(seconds) % len(bodies)], headers=headers)
            seconds.append(time.perf_counter() - started)
            statuses[str(reply.status_code)] += 1
            if reply.status_code == 200:
                data = reply.json()
                applied[str(data["applied"])] += 1
                if data["mode"]["mode"] != "openplus":
                    statuses["not_openplus"] += 1
            if len(seconds) == 1:
                print("running", flush=True)
    return {
        "uploads": len(seconds),
        "statuses": dict(statuses),
        "applied": dict(applied),
        "upload_p50_s": statistics.median(seconds) if seconds else None,
        "upload_max_s": max(seconds) if seconds else None,
    }


def main(argv: list[str]) -> None:
    stop = threading.Event()
    threading.Thread(target=_stop_at_eof, args=(stop,), daemon=True).start()
    if argv[0] == "logins":
        result = logins(argv[1], stop)
    elif argv[0] == "schedule":
        result = schedule(argv[1], argv[2], argv[3], argv[4:], stop)
    else:
        raise SystemExit(f"unknown load {argv[0]!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
