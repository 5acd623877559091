"""OSC flood sender, run as its own process: `python tests/_osc_flood.py PORT START_AT SECONDS RATE`.

From the wall-clock time START_AT (time.time()) on, sends RATE datagrams a second for SECONDS
to 127.0.0.1:PORT: parameter messages with good, out-of-range, NaN, infinite, string and
wrong-arity values, actions with good and bad arguments, bundles, and random bytes. Prints
the number of datagrams sent.
"""

from __future__ import annotations

import math
import os
import random
import socket
import sys
import time

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

PARAMS = [
    "latent/speed", "latent/truncation", "latent/walk_step", "warp/swirl", "warp/swirl_radius", "warp/flow",
    "feedback/amount", "feedback/zoom", "grade/exposure", "grade/gamma", "grade/hue", "dream/strength",
]
ACTIONS = ["keyframe/next", "keyframe/previous", "cue/next", "cue/previous", "show/reload"]


def message(address: str, *args) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def pool(rng: random.Random, n: int = 4000) -> list[bytes]:
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.6:
            address = "/installation/" + rng.choice(PARAMS)
            value = rng.choice([rng.uniform(-1e6, 1e6), rng.uniform(-2, 2), math.nan, math.inf, -math.inf])
            roll = rng.random()
            if roll < 0.1:
                out.append(message(address, "fast"))
            elif roll < 0.15:
                out.append(message(address, value, value))
            else:
                out.append(message(address, float(value)))
        elif kind < 0.7:
            out.append(message("/installation/" + rng.choice(ACTIONS)))
        elif kind < 0.75:
            choice = rng.choice([rng.randrange(0, 10), "b", "a", "nope" + str(rng.randrange(1000))])
            out.append(message("/installation/scene", choice))
        elif kind < 0.78:
            out.append(message("/installation/keyframe/seed", rng.randrange(0, 2**31)))
        elif kind < 0.8:
            out.append(message("/installation/record/start", "../../etc/owned.mp4"))
        elif kind < 0.85:
            b = OscBundleBuilder(IMMEDIATELY)
            for _ in range(3):
                b.add_content(OscMessageBuilder("/installation/" + rng.choice(PARAMS)).build())
            out.append(b.build().dgram)
        else:
            data = os.urandom(rng.randrange(1, 200))
            out.append(rng.choice([data, b"/" + data, b"#bundle\x00" + data]))
    return out


def main() -> None:
    port, start_at, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    datagrams = pool(random.Random(1))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    time.sleep(max(0.0, start_at - time.time()))
    slice_seconds = 0.01
    per_slice = max(1, round(rate * slice_seconds))
    sent, i = 0, 0
    begin = time.perf_counter()
    while time.perf_counter() - begin < seconds:
        for _ in range(per_slice):
            try:
                sock.sendto(datagrams[i % len(datagrams)], ("127.0.0.1", port))
                sent += 1
            except OSError:
                pass
            i += 1
        target = begin + (sent // per_slice) * slice_seconds
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    print(sent, flush=True)


if __name__ == "__main__":
    main()
