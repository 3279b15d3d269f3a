"""The load of scenario 12: HTTP GETs at a steady rate on 127.0.0.1:PORT, a
new connection for each (so a refused or reset connection shows), until
SIGTERM or SIGINT; then the samples go to OUT as JSON and it exits 0.

    python3 -m benchlib.load PORT RATE THREADS OUT [MAX_SECONDS]

Open loop, as wrk2 does it: requests are scheduled at a fixed rate, and
whichever of THREADS threads is free takes the next one (one request at a
time each). A request that could not go at its time (every thread was
still waiting for an answer) goes as soon as a thread is free, and its
latency counts from its scheduled time, not from when it went: so a stall
of the server shows in the latency of every request it delayed, not only in
the few that were waiting (coordinated omission), and one request that
hangs holds up one thread, not the schedule. On SIGTERM every request
scheduled until then is still sent (or, at most 15 s on, given up), so a
window of the run has all its requests.

Each sample is [scheduled_ns, done_ns, error]: CLOCK_MONOTONIC (the
harness's clock), error None for a whole 200 answer, else one of refused,
reset, timeout, status, cut, or the OSError's name. Standard library only.
"""

import json
import signal
import socket
import sys
import threading
import time

MONO = time.monotonic_ns
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
TIMEOUT_S = 5.0


def get(port):
    """One GET on a new connection: None when the answer is a whole 200, else why not."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as s:
            s.sendall(REQUEST)
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
    except ConnectionRefusedError:
        return "refused"
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return "reset"
    except TimeoutError:
        return "timeout"
    except OSError as e:
        return type(e).__name__
    data = b"".join(chunks)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not (head.startswith(b"HTTP/1.1 200 ") or head.startswith(b"HTTP/1.0 200 ")):
        return "status"
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    if not sep or (length is not None and len(body) != length):
        return "cut"
    return None


def main():
    port, rate, threads, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    max_s = float(sys.argv[5]) if len(sys.argv) > 5 else 600.0
    stop = threading.Event()
    stop_ns = []
    lock = threading.Lock()
    next_k = [0]

    def on_signal(*_):
        if not stop_ns:
            stop_ns.append(MONO())
        stop.set()

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    interval = 1e9 / rate  # ns between two scheduled requests
    t0 = MONO() + 10_000_000
    end = t0 + int(max_s * 1e9)
    results = [[] for _ in range(threads)]

    def worker(i):
        samples = results[i]
        while True:
            with lock:
                k = next_k[0]
                next_k[0] += 1
            sched = t0 + int(k * interval)
            now = MONO()
            if sched > end or (stop_ns and (sched >= stop_ns[0] or now > stop_ns[0] + 15e9)):
                break
            if sched > now:
                # Wake at the time, or at once on SIGTERM past it.
                if stop.wait((sched - now) / 1e9) and sched >= stop_ns[0]:
                    break
            err = get(port)
            samples.append((sched, MONO(), err))

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        if not stop.is_set() and MONO() > end:
            on_signal()
        for t in ts:
            t.join(0.05)
    samples = sorted((s for r in results for s in r), key=lambda s: s[0])
    with open(out, "w") as f:
        json.dump(samples, f)


if __name__ == "__main__":
    main()
