"""OSCQuery: the parameter tree over real HTTP beside a real OSC server, the allow list, and the
mDNS advert found by a real zeroconf browser on loopback."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from installation.config import validate_show
from installation.control.osc import build_message
from installation.control.sink import ControlSink
from installation.control.wiring import OscControl
from installation.live import live_specs
from installation.params import Params


def _control(tmp_allow=None, advertise=False, **osc):
    cfg = validate_show({"show": {"name": "rigtest"}, "warp": {"swirl": 1.5},
                         "osc": {"port": 9000, "advertise": advertise, **osc, **({"allow": tmp_allow} if tmp_allow else {})}})
    posted = []
    sink = ControlSink(Params(cfg), post=lambda name, *args: posted.append((name, args)) or True)
    control = OscControl(cfg, sink, status=lambda: {}, port=0, query_port=0)
    return control, sink, posted


def _get(port: int, path: str):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


@pytest.fixture
def served():
    control, sink, posted = _control()
    yield control, sink, posted
    control.stop()


def test_a_node_answers_with_its_current_value_and_metadata(served):
    control, sink, _ = served
    status, node = _get(control.query.port, "/installation/warp/swirl")
    assert status == 200
    spec = next(s for s in live_specs() if s.key == "warp.swirl")
    assert node == {"FULL_PATH": "/installation/warp/swirl", "TYPE": "f", "VALUE": [1.5], "ACCESS": 3,
                    "RANGE": [{"MIN": spec.lo, "MAX": spec.hi}], "DESCRIPTION": spec.doc}
    sink.set("warp.swirl", -2.0)
    assert _get(control.query.port, "/installation/warp/swirl?VALUE") == (200, {"VALUE": [-2.0]})


def test_a_value_sent_over_osc_is_what_the_tree_then_reports(served):
    control, _, _ = served
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(build_message("/installation/warp/swirl", 3.25), ("127.0.0.1", control.server.port))
    deadline = time.monotonic() + 5
    while _get(control.query.port, "/installation/warp/swirl?VALUE")[1] != {"VALUE": [3.25]}:
        assert time.monotonic() < deadline, "the OSC value never reached the tree"
        time.sleep(0.02)


def test_the_root_holds_every_live_parameter_and_the_actions_write_only(served):
    control, _, _ = served
    status, root = _get(control.query.port, "/")
    assert status == 200 and root["FULL_PATH"] == "/"
    inst = root["CONTENTS"]["installation"]
    for spec in live_specs():
        section, name = spec.key.split(".")
        assert inst["CONTENTS"][section]["CONTENTS"][name]["FULL_PATH"] == spec.address
    cue_next = inst["CONTENTS"]["cue"]["CONTENTS"]["next"]
    assert cue_next["ACCESS"] == 2 and cue_next["TYPE"] == "" and "VALUE" not in cue_next
    learn = inst["CONTENTS"]["midi"]["CONTENTS"]["learn"]
    assert learn["TYPE"] == "s" and learn["ACCESS"] == 2


def test_host_info_says_where_osc_goes(served):
    control, _, _ = served
    status, info = _get(control.query.port, "/?HOST_INFO")
    assert status == 200
    assert info["OSC_PORT"] == control.server.port and info["OSC_TRANSPORT"] == "UDP"
    assert info["EXTENSIONS"]["VALUE"] is True


def test_bad_requests_get_4xx_and_the_server_keeps_answering(served):
    control, _, _ = served
    port = control.query.port
    assert _get(port, "/installation/nope")[0] == 404
    assert _get(port, "/installation/warp/swirl?BOGUS")[0] == 400
    assert _get(port, "/installation/cue/next?VALUE")[0] == 204  # an action has no value
    req = urllib.request.Request(f"http://127.0.0.1:{port}/installation/warp/swirl", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # not HTTP at all
        s.sendall(b"GET / HTTP/garbage\r\n\r\n")
        assert b"Error code: 400" in s.recv(4096)
    assert _get(port, "/installation/warp/swirl")[0] == 200


def test_a_source_outside_the_allow_list_is_refused():
    control, _, _ = _control(tmp_allow=["10.0.0.0/8"])
    try:
        assert _get(control.query.port, "/installation/warp/swirl")[0] == 403
    finally:
        control.stop()


def test_the_query_port_defaults_to_the_osc_port_plus_one():
    cfg = validate_show({"osc": {"port": _free_udp_pair(), "advertise": False}})
    control = OscControl(cfg, ControlSink(Params(cfg), post=lambda *a: True), status=lambda: {}, port=None)
    try:
        assert control.query.port == control.server.port + 1
        assert _get(control.query.port, "/?HOST_INFO")[1]["OSC_PORT"] == control.server.port
    finally:
        control.stop()


@pytest.mark.parametrize("chosen_in", ["--query-port", "osc.query_port"])
def test_a_taken_chosen_query_port_stops_the_start_in_one_line_naming_the_port(chosen_in):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        in_file = chosen_in == "osc.query_port"
        cfg = validate_show({"osc": {"advertise": False, **({"query_port": taken} if in_file else {})}})
        with pytest.raises(OSError, match=rf"OSCQuery: cannot listen on 127.0.0.1:{taken}.*--query-port"):
            OscControl(cfg, ControlSink(Params(cfg), post=lambda *a: True), status=lambda: {}, port=0,
                       query_port=None if in_file else taken)


def test_a_taken_default_query_port_warns_in_one_line_and_osc_plays_on(caplog):
    port = _free_udp_pair()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port + 1))
        busy.listen()
        cfg = validate_show({"osc": {"port": port, "advertise": False}})
        with caplog.at_level("WARNING", logger="installation.control.wiring"):
            control = OscControl(cfg, ControlSink(Params(cfg), post=lambda *a: True), status=lambda: {}, port=None)
        try:
            assert control.query is None and control.server.port == port
            warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
            assert len(warnings) == 1 and f"cannot listen on 127.0.0.1:{port + 1}" in warnings[0]
            assert "\n" not in warnings[0] and "without OSCQuery" in warnings[0]
        finally:
            control.stop()


def test_the_tree_is_advertised_over_mdns_on_loopback():
    zeroconf = pytest.importorskip("zeroconf")
    try:
        zc = zeroconf.Zeroconf(interfaces=["127.0.0.1"], ip_version=zeroconf.IPVersion.V4Only)
    except OSError as e:
        pytest.skip(f"no multicast on loopback here: {e}")
    control, _, _ = _control(advertise=True)
    found: list[str] = []

    class Listener:
        def add_service(self, zc, type_, name):
            found.append(name)

        def update_service(self, *args):
            pass

        def remove_service(self, *args):
            pass

    try:
        browser = zeroconf.ServiceBrowser(zc, "_oscjson._tcp.local.", Listener())
        want = f"rigtest-{control.query.port}._oscjson._tcp.local."
        deadline = time.monotonic() + 15
        while want not in found and time.monotonic() < deadline:
            time.sleep(0.05)
        if not found:
            pytest.skip("mDNS on loopback got no answer at all in 15 s (multicast unavailable here)")
        assert want in found
        info = zc.get_service_info("_oscjson._tcp.local.", want, timeout=5000)
        assert info is not None and info.port == control.query.port
        assert "127.0.0.1" in info.parsed_addresses()
        browser.cancel()
    finally:
        control.stop()
        zc.close()


def _free_udp_pair() -> int:
    """A port p with UDP p and TCP p + 1 free right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            p = u.getsockname()[1]
        if p >= 65535:
            continue
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    pytest.skip("no free port pair found")


def test_clients_beyond_the_cap_are_closed_and_the_rest_still_answered(served):
    from installation.control.oscquery import MAX_CLIENTS

    control, _, _ = served
    stalled = [socket.create_connection(("127.0.0.1", control.query.port), timeout=5) for _ in range(MAX_CLIENTS)]
    try:
        deadline = time.monotonic() + 10
        while control.query._httpd.active < MAX_CLIENTS:
            assert time.monotonic() < deadline, "the stalled clients were never accepted"
            time.sleep(0.02)
        extra = socket.create_connection(("127.0.0.1", control.query.port), timeout=5)
        extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert extra.recv(64) == b""  # closed without an answer: every slot is held by a stalled client
        extra.close()
    finally:
        for s in stalled:
            s.close()
    deadline = time.monotonic() + 10
    while True:  # the stalled clients' threads end when they close; then answers come again
        try:
            if _get(control.query.port, "/installation/warp/swirl")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server never answered again"
        time.sleep(0.05)


def test_every_osc_action_has_an_oscquery_type():
    from installation.actions import ACTIONS
    from installation.control.oscquery import _ACTION_TYPES

    untyped = [a.name for a in ACTIONS if a.address is not None and a.args and a.args not in _ACTION_TYPES]
    assert not untyped, f"add their OSC type tags to oscquery._ACTION_TYPES: {untyped}"
