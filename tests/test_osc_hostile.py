"""OSC from a hostile sender (issue #15 items 1, 2, 12): replies never amplify, rejected messages
never flood the log, and a malformed or mistyped argument never sets a parameter.

Real UDP on loopback against a real server thread; waits are bounded, never timing assertions.
"""

from __future__ import annotations

import logging
import socket
import struct

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from installation.config import OscSection
from installation.control.osc import REPLIES_PER_SENDER_PER_SECOND, OscServer
from installation.params import Params

import conftest

WAIT = 10.0


def wait_for(cond, timeout: float = WAIT) -> bool:
    return conftest.wait_for(cond, timeout)


@pytest.fixture
def params():
    return Params()


@pytest.fixture
def server(params):
    srv = OscServer(OscSection(port=9000), params, status_provider=lambda: {"fps": 30.0, "scene": "intro"},
                    port_override=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    yield s
    s.close()


def drain(s: socket.socket) -> list[bytes]:
    """Every datagram waiting on the socket (the server has finished: see the counters)."""
    s.setblocking(False)
    out = []
    while True:
        try:
            out.append(s.recv(65536))
        except BlockingIOError:
            return out


def bundle(messages: list[bytes]) -> bytes:
    return b"#bundle\0" + 8 * b"\0" + b"".join(struct.pack(">i", len(m)) + m for m in messages)


def msg(address: str, *args) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


# --- item 1: reply amplification -------------------------------------------------------------


def test_status_bundle_flood_gets_fewer_bytes_back_than_it_sent(server, sock):
    m = b"/installation/status" + 4 * b"\0"  # the datagram: 2,338 bare status requests
    dgram = b"#bundle\0" + 8 * b"\0" + (struct.pack(">i", 24) + m) * 2338
    assert len(dgram) == 65480
    sock.sendto(dgram, ("127.0.0.1", server.port))
    assert wait_for(lambda: server.counters["received"] == 2338)
    replies = drain(sock)
    assert sum(map(len, replies)) <= len(dgram)
    assert len(replies) <= 2 * REPLIES_PER_SENDER_PER_SECOND  # the flood may straddle a second
    assert server.counters["replies_limited"] == 2338 - len(replies)


def test_get_bundle_flood_is_capped_too(server, sock):
    get = msg("/installation/get", "/installation/warp/swirl")
    dgram = bundle([get] * 1000)
    sock.sendto(dgram, ("127.0.0.1", server.port))
    assert wait_for(lambda: server.counters["received"] == 1000)
    replies = drain(sock)
    assert 0 < len(replies) <= 2 * REPLIES_PER_SENDER_PER_SECOND
    assert sum(map(len, replies)) <= len(dgram)


def test_a_reply_never_exceeds_what_the_sender_sent(server, sock):
    bare = msg("/installation/status")  # 24 bytes; the reply is larger
    sock.sendto(bare, ("127.0.0.1", server.port))
    assert wait_for(lambda: server.counters["replies_limited"] == 1)
    assert drain(sock) == []
    padded = msg("/installation/status", "." * 64)  # a request that pays for its reply
    sock.sendto(padded, ("127.0.0.1", server.port))
    assert wait_for(lambda: server.counters["applied"] == 2)
    sock.setblocking(True)
    sock.settimeout(WAIT)
    reply = sock.recv(65536)
    assert OscMessage(reply).address == "/installation/status" and len(reply) <= len(bare) + len(padded)


def test_no_reply_to_a_sender_outside_the_allow_list(params, sock):
    cfg = OscSection(host="127.0.0.1", port=9000, allow=["127.0.0.2/32"])
    with OscServer(cfg, params, port_override=0) as srv:
        sock.sendto(msg("/installation/status", "." * 64), ("127.0.0.1", srv.port))
        assert wait_for(lambda: srv.counters["denied_source"] == 1)
        assert drain(sock) == []


# --- item 2: one limiter for every rejected message ------------------------------------------


def test_unknown_type_tags_do_not_flood_the_log(server, sock, caplog):
    bad = b"/installation/warp/swirl\0\0\0\0,x\0\0"
    with caplog.at_level(logging.WARNING):
        for _ in range(2000):
            sock.sendto(bad, ("127.0.0.1", server.port))
        assert wait_for(lambda: server.counters["malformed"] == 2000)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings[:5]]
    assert "type tag 'x'" in warnings[0].getMessage()


# --- item 12: arguments that are not what they claim -----------------------------------------


def test_float_tag_without_data_is_dropped_and_counted(server, sock, params):
    params.set("warp.swirl", 1.5)
    sock.sendto(b"/installation/warp/swirl\0\0\0\0,f\0\0", ("127.0.0.1", server.port))  # no 4 data bytes
    assert wait_for(lambda: server.counters["malformed"] == 1)
    assert params.get_target("warp.swirl") == 1.5
    assert server.stats()["dropped"] == 1


def test_rgba_is_not_a_number(server, sock, params):
    params.set("warp.swirl", 1.5)
    sock.sendto(b"/installation/warp/swirl\0\0\0\0,r\0\0" + bytes([0, 0, 0, 2]), ("127.0.0.1", server.port))
    sock.sendto(b"/installation/input/level\0\0\0,r\0\0" + bytes([0, 0, 0, 2]), ("127.0.0.1", server.port))
    assert wait_for(lambda: server.counters["rejected"] == 2)
    assert params.get_target("warp.swirl") == 1.5 and server.inputs() == {}


def test_trailing_bytes_after_the_arguments_are_malformed(server, sock, params):
    sock.sendto(msg("/installation/warp/swirl", 2.0) + b"\0\0\0\x07", ("127.0.0.1", server.port))
    assert wait_for(lambda: server.counters["malformed"] == 1)
    sock.sendto(msg("/installation/warp/swirl", 2.0), ("127.0.0.1", server.port))  # the same, well formed
    assert wait_for(lambda: server.counters["applied"] == 1)
    assert params.get_target("warp.swirl") == 2.0
