"""OSC server over real UDP on loopback: python-osc clients talk to a running OscServer."""

from __future__ import annotations

import os
import socket
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from installation.actions import ACTIONS
from installation.config import OscSection, ShowConfigError, validate_show
from installation.control.network import SourceFilter, parse_host_port
from installation.control.osc import OscServer, parse_datagram
from installation.control.sink import ControlSink
from installation.params import Params

from conftest import wait_for

WAIT = 3.0  # bounded wait for the server thread; not a timing assertion


@pytest.fixture
def params():
    return Params()


@pytest.fixture
def server(params):
    calls = []
    sink = ControlSink(params, post=lambda name, *args: calls.append((name, args)))
    srv = OscServer(OscSection(port=9000), sink,
                    status_provider=lambda: {"fps": 59.5, "content_fps": 12.0, "scene": "intro", "recording": True},
                    port_override=0)
    srv.calls = calls
    srv.start()
    yield srv
    srv.stop()


def client_for(srv) -> SimpleUDPClient:
    return SimpleUDPClient("127.0.0.1", srv.port)


def test_parameter_set_over_udp(server, params):
    client = client_for(server)
    client.send_message("/installation/latent/speed", 0.3)
    assert wait_for(lambda: params.get_target("latent.speed") == pytest.approx(0.3))
    client.send_message("/installation/warp/swirl", 2)  # an int is a number too
    assert wait_for(lambda: params.get_target("warp.swirl") == 2.0)
    assert server.stats()["applied"] == 2


def test_out_of_range_is_clamped_and_counted(server, params):
    client_for(server).send_message("/installation/dream/strength", 5.0)
    assert wait_for(lambda: server.counters["clamped"] == 1)
    assert params.get_target("dream.strength") == 1.0  # the spec's upper bound


def test_wrong_type_and_unknown_address_are_dropped_and_counted(server, params):
    client = client_for(server)
    before = params.get_target("latent.speed")
    client.send_message("/installation/latent/speed", "fast")
    client.send_message("/installation/latent/speed", [1.0, 2.0])
    client.send_message("/installation/latent/speed", True)
    client.send_message("/installation/nope/nothing", 1.0)
    assert wait_for(lambda: server.counters["rejected"] == 3 and server.counters["unknown_address"] == 1)
    assert params.get_target("latent.speed") == before
    assert server.stats()["dropped"] == 4


def test_actions_without_a_queue_are_counted_as_unknown(params):
    with OscServer(OscSection(), params, port_override=0) as srv:  # plain Params: nowhere to post
        SimpleUDPClient("127.0.0.1", srv.port).send_message("/installation/dream/toggle", [])
        assert wait_for(lambda: srv.counters["unknown_address"] == 1)


def test_bundle_with_far_future_timestamp_applies_at_once(server, params):
    bundle = OscBundleBuilder(time.time() + 3600.0)  # an hour ahead: must not wait for it
    for address, value in (("/installation/grade/hue", 0.25), ("/installation/grade/gamma", 2.0)):
        m = OscMessageBuilder(address)
        m.add_arg(value)
        bundle.add_content(m.build())
    inner = OscBundleBuilder(IMMEDIATELY)
    m = OscMessageBuilder("/installation/grade/vignette")
    m.add_arg(0.75)
    inner.add_content(m.build())
    bundle.add_content(inner.build())
    client_for(server).send(bundle.build())
    assert wait_for(lambda: params.get_target("grade.vignette") == 0.75)
    assert params.get_target("grade.hue") == 0.25
    assert params.get_target("grade.gamma") == 2.0


def test_random_bytes_are_malformed_and_the_server_survives(server, params):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = __import__("random").Random(1)
    junk = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(200)]
    junk += [b"/installation/latent/speed\x00\x00\x00\x00,f\x00", b"#bundle\x00", b"#bundle\x00" + b"\x00" * 8 + b"\xff" * 4,
             b"/", b"\x00", os.urandom(1000)]
    for j in junk:
        sock.sendto(j, ("127.0.0.1", server.port))
    assert wait_for(lambda: server.counters["malformed"] >= 150)
    client_for(server).send_message("/installation/latent/truncation", 0.9)
    assert wait_for(lambda: params.get_target("latent.truncation") == pytest.approx(0.9))
    assert server.running
    sock.close()


def test_get_query_is_answered_to_the_sender(server, params):
    params.set("warp.flow", 0.05)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(WAIT)
    m = OscMessageBuilder("/installation/get")
    m.add_arg("/installation/warp/flow")
    sock.sendto(m.build().dgram, ("127.0.0.1", server.port))
    reply = OscMessage(sock.recvfrom(65536)[0])
    assert reply.address == "/installation/warp/flow"
    assert reply.params[0] == pytest.approx(0.05)
    sock.close()


def test_status_query_and_periodic_status(params):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    cfg = OscSection(status_to=f"127.0.0.1:{listener.getsockname()[1]}")
    with OscServer(cfg, params, status_provider=lambda: {"fps": 30.0, "scene": "intro"},
                   port_override=0, status_interval=0.2) as srv:
        # the periodic status, unasked
        status = OscMessage(listener.recvfrom(65536)[0])
        assert status.address == "/installation/status"
        fps, content_fps, scene, recording, dropped = status.params
        assert (fps, scene, recording) == (pytest.approx(30.0), "intro", 0)
        # a query from another socket is answered to that socket
        asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        asker.settimeout(WAIT)
        asker.sendto(b"junk", ("127.0.0.1", srv.port))
        query = OscMessageBuilder("/installation/status")
        query.add_arg("." * 64)  # a reply is never larger than what its sender sent (no amplification)
        asker.sendto(query.build().dgram, ("127.0.0.1", srv.port))
        reply = OscMessage(asker.recvfrom(65536)[0])
        assert reply.address == "/installation/status"
        assert reply.params[4] == 1  # the junk datagram is a dropped message
        asker.close()
    listener.close()


def test_status_to_a_closed_port_does_not_break_the_server(params):
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nobody listens: Linux reports ECONNREFUSED on the server's next recv
    with OscServer(OscSection(status_to=f"127.0.0.1:{port}"), params, port_override=0, status_interval=0.05) as srv:
        time.sleep(0.2)
        SimpleUDPClient("127.0.0.1", srv.port).send_message("/installation/feedback/amount", 0.2)
        assert wait_for(lambda: params.get_target("feedback.amount") == pytest.approx(0.2))
        assert srv.running


def test_actions_are_called_with_checked_arguments(server):
    client = client_for(server)
    client.send_message("/installation/keyframe/next", [])
    client.send_message("/installation/keyframe/seed", 42)
    client.send_message("/installation/keyframe/seed", "x")  # wrong type: rejected
    client.send_message("/installation/scene", "storm")
    client.send_message("/installation/scene", 2)
    client.send_message("/installation/record/start", "/tmp/a.mp4")
    client.send_message("/installation/record/stop", [])
    assert wait_for(lambda: len(server.calls) == 6)
    assert server.calls == [
        ("next_keyframe", ()),
        ("jump_to_seed", (42,)),
        ("scene", ("storm",)),
        ("scene", (2,)),
        ("record_start", ("/tmp/a.mp4",)),
        ("record_stop", ()),
    ]
    assert server.counters["rejected"] == 1


def test_inputs_become_features(server):
    client = client_for(server)
    client.send_message("/installation/input/fader1", 0.7)
    client.send_message("/installation/input/bad name", 0.7)  # not a name: rejected
    assert wait_for(lambda: server.inputs().get("osc.fader1") == pytest.approx(0.7))
    assert wait_for(lambda: server.counters["rejected"] == 1)
    assert list(server.inputs()) == ["osc.fader1"]


def test_denied_source_is_counted(params):
    f = SourceFilter(["127.0.0.2", "10.0.0.0/8", "::1"])
    assert f.allows("127.0.0.2") and f.allows("10.1.2.3") and f.allows("::1")
    assert f.allows("::ffff:10.9.9.9")  # IPv4 sender seen through an IPv6 socket
    assert not f.allows("127.0.0.1") and not f.allows("192.168.0.1") and not f.allows("garbage")
    assert SourceFilter([]).allows("8.8.8.8")  # no list: loopback binds accept everyone on the machine
    # the server applies the filter: bound to loopback, only 127.0.0.2 allowed, we send from 127.0.0.1
    with OscServer(OscSection(allow=["127.0.0.2"]), params, port_override=0) as srv:
        SimpleUDPClient("127.0.0.1", srv.port).send_message("/installation/latent/speed", 0.1)
        assert wait_for(lambda: srv.counters["denied_source"] == 1)
        assert params.get_target("latent.speed") == 1.0


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="osc.allow"):
        OscServer(OscSection.model_construct(host="0.0.0.0", port=9000, allow=[], status_to=None), Params())
    with pytest.raises(ShowConfigError, match="osc.allow"):
        validate_show({"osc": {"host": "0.0.0.0", "allow": ["not-an-ip"]}})
    with pytest.raises(ShowConfigError, match="osc.status_to"):
        validate_show({"osc": {"status_to": "localhost"}})
    assert parse_host_port("[::1]:9001") == ("::1", 9001)
    with pytest.raises(ValueError, match="osc.status_to"):
        parse_host_port("host:99999")


def test_port_in_use_is_a_clear_error(server, params):
    with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
        OscServer(OscSection(), params, port_override=server.port).start()


def test_parse_datagram_rejects_deep_nesting():
    from installation.control.osc import Malformed
    inner = OscMessageBuilder("/installation/latent/speed").build().dgram
    for _ in range(20):
        b = b"#bundle\x00" + b"\x00" * 7 + b"\x01"
        inner = b + len(inner).to_bytes(4, "big") + inner
    with pytest.raises(Malformed):
        parse_datagram(inner)


def test_address_table_lists_every_live_parameter_and_action(tmp_path):
    from click.testing import CliRunner

    from installation.cli import cli
    from installation.control.osc_docs import BEGIN_MARKER, END_MARKER, address_table_markdown
    from installation.live import live_specs

    table = address_table_markdown()
    for spec in live_specs():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{spec.address}` |")), None)
        assert row is not None, spec.address
        assert f"{spec.lo:g} .. {spec.hi:g}" in row and f"| {spec.default:g} |" in row
    for action in ACTIONS:
        assert (f"| `{action.address}` |" in table) == (action.address is not None)
    runner = CliRunner()
    result = runner.invoke(cli, ["osc-addresses"])
    assert result.exit_code == 0 and result.output == table
    # --write fills the README between its markers; --check then passes, and fails once stale
    readme = tmp_path / "README.md"
    readme.write_text(f"# Show\n\n{BEGIN_MARKER}\nSTALE LIST\n{END_MARKER}\n\nAfter.\n")
    assert runner.invoke(cli, ["osc-addresses", "--check", str(readme)]).exit_code != 0
    assert runner.invoke(cli, ["osc-addresses", "--write", str(readme)]).exit_code == 0
    text = readme.read_text()
    assert "STALE LIST" not in text and table in text and text.endswith(f"{END_MARKER}\n\nAfter.\n")
    assert runner.invoke(cli, ["osc-addresses", "--check", str(readme)]).exit_code == 0
    no_markers = tmp_path / "plain.md"
    no_markers.write_text("# nothing\n")
    result = runner.invoke(cli, ["osc-addresses", "--check", str(no_markers)])
    assert result.exit_code != 0 and "markers" in result.output
