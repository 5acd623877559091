"""OSC server: UDP datagrams -> live parameters, actions and inputs; status replies.

One thread owns a plain UDP socket. Each datagram is parsed with python-osc's
`OscMessage` (bundles are walked here, see `_walk_bundle`), and every message is applied
at once: bundle timestamps are ignored, so nothing ever sleeps on a timestamp (python-osc's
own dispatcher server would). Per-message work is a dict lookup and a `Params.set`, so a
flood of 10,000 messages a second costs the show one thread, never a frame.

Addresses:
- every live parameter, `/installation/<section>/<name> <float>` (Params clamps and counts);
- actions (`installation.actions.ACTIONS`), posted by name to the sink's queue;
- `/installation/input/<name> <float>`: stored as input feature `osc.<name>` for mappings;
- `/installation/get <address>`: answered to the sender with `<address> <target value>`;
- `/installation/status`: answered to the sender; also sent every second to `status_to`.
Replies never amplify (see ReplyLimiter): a sender gets at most as many bytes as it sent, and
at most REPLIES_PER_SENDER_PER_SECOND replies a second (REPLIES_PER_SECOND in total). A bare
/installation/status request (24 bytes) is smaller than its reply: pad it with a string
argument, or rely on `status_to`.

Nothing a sender does can raise out of the thread: bad datagrams are dropped and counted.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import struct
import threading
import time
from typing import Any, Callable

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from installation.actions import BY_ADDRESS, PREFIX
from installation.config import OscSection
from installation.control.network import SourceFilter, is_loopback_host, parse_host_port
from installation.live import live_specs
from installation.params import SetResult

log = logging.getLogger(__name__)

INPUT_PREFIX = PREFIX + "/input/"
GET_ADDRESS = PREFIX + "/get"
STATUS_ADDRESS = PREFIX + "/status"

MAX_INPUTS = 256  # distinct /installation/input/<name>s kept; more are rejected (memory stays flat)
MAX_BUNDLE_DEPTH = 8  # nested bundles deeper than this are malformed
_INPUT_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

COUNTER_NAMES = ("received", "applied", "clamped", "rejected", "malformed", "unknown_address", "denied_source",
                 "replies_limited")

# Replies (/installation/status, /installation/get) go to the datagram's source address, which UDP
# lets anyone forge: they must never amplify. A sender is answered only with bytes it has paid for
# (each datagram's size is credit, each reply spends its size), and at most so many times a second,
# per sender and in total. Replies that do not fit are dropped and counted (replies_limited).
REPLIES_PER_SENDER_PER_SECOND = 20
REPLIES_PER_SECOND = 200
MAX_REPLY_CREDIT = 64 * 1024  # bytes a sender can bank
MAX_REPLY_SENDERS = 1024  # senders remembered (least recently heard forgotten first)


# What /installation/status carries, in argument order (see `status_values`).
STATUS_FIELDS = (
    ("fps", float, "Display frames per second."),
    ("content_fps", float, "Generated (content) frames per second."),
    ("scene", str, "Current scene name."),
    ("recording", int, "1 while recording, else 0."),
    ("dropped", int, "OSC messages dropped so far (malformed, rejected, unknown address, denied source)."),
)


class ReplyLimiter:
    """Who may be answered, and how much: byte credit per sender plus per-second caps."""

    def __init__(self, per_sender: int = REPLIES_PER_SENDER_PER_SECOND, total: int = REPLIES_PER_SECOND):
        from collections import OrderedDict

        self.per_sender = per_sender
        self.total = total
        self._credit: OrderedDict[str, int] = OrderedDict()
        self._counts: dict[str, int] = {}
        self._total = 0
        self._window = -1

    def received(self, ip: str, nbytes: int) -> None:
        self._credit[ip] = min(self._credit.pop(ip, 0) + nbytes, MAX_REPLY_CREDIT)
        while len(self._credit) > MAX_REPLY_SENDERS:
            self._credit.popitem(last=False)

    def allow(self, ip: str, nbytes: int, now: float) -> bool:
        window = int(now)
        if window != self._window:
            self._window, self._total = window, 0
            self._counts.clear()
        credit = self._credit.get(ip, 0)
        if credit < nbytes or self._total >= self.total or self._counts.get(ip, 0) >= self.per_sender:
            return False
        self._credit[ip] = credit - nbytes
        self._counts[ip] = self._counts.get(ip, 0) + 1
        self._total += 1
        return True


# --- parsing ---------------------------------------------------------------------------------


class Malformed(Exception):
    pass


def _walk_bundle(dgram: bytes, out: list[OscMessage], depth: int = 0) -> None:
    """Append every message of a bundle (nested ones too) in order; the timetag is ignored.

    python-osc's OscBundle would also work but logs a warning per unknown element, which a
    flood would turn into a log flood; here such an element makes the datagram malformed.
    """
    if depth > MAX_BUNDLE_DEPTH:
        raise Malformed("bundles nested too deep")
    index = 16  # '#bundle\0' + 8-byte timetag
    if len(dgram) < index:
        raise Malformed("bundle too short")
    while index < len(dgram):
        if index + 4 > len(dgram):
            raise Malformed("truncated bundle element size")
        (size,) = struct.unpack_from(">i", dgram, index)
        index += 4
        if size <= 0 or size % 4 or index + size > len(dgram):
            raise Malformed(f"bad bundle element size {size}")
        element = dgram[index : index + size]
        index += size
        parse_datagram(element, out, depth + 1)


# Bytes of data each type tag takes (None: a padded string; "blob": size-prefixed, padded). What
# python-osc parses; any other tag (python-osc would log a warning per message) is malformed.
_TAG_SIZES: dict[str, Any] = {"i": 4, "f": 4, "r": 4, "m": 4, "h": 8, "d": 8, "t": 8, "s": None, "b": "blob",
                              "T": 0, "F": 0, "N": 0, "[": 0, "]": 0}
NUMBER_TAGS = frozenset("ifhd")  # what a number may be sent as ('r' colours, 'm' MIDI, 't' times are not)


def _padded_string_end(dgram: bytes, start: int, what: str) -> int:
    end = dgram.find(b"\x00", start)
    if end < 0:
        raise Malformed(f"unterminated {what}")
    return start + ((end - start) // 4 + 1) * 4


def type_tags(dgram: bytes) -> str:
    """The type tags of one OSC message (without the ','), after checking that the message holds
    exactly the data they announce: a ',f' without its 4 bytes is malformed (python-osc would read
    it as 0.0), so is an unknown tag or trailing bytes."""
    index = _padded_string_end(dgram, 0, "address")
    if index >= len(dgram):
        return ""  # no type tag string: an old-style message without arguments
    if dgram[index:index + 1] != b",":
        raise Malformed("no type tag string")
    tags_end = _padded_string_end(dgram, index, "type tag string")
    tags = dgram[index + 1:dgram.find(b"\x00", index)].decode("ascii", "replace")
    index = tags_end
    for tag in tags:
        size = _TAG_SIZES.get(tag, -1)
        if size == -1:
            raise Malformed(f"unsupported type tag {tag!r}")
        if size is None:
            if index >= len(dgram):
                raise Malformed("missing string data")
            index = _padded_string_end(dgram, index, "string argument")
        elif size == "blob":
            if index + 4 > len(dgram):
                raise Malformed("missing blob size")
            (n,) = struct.unpack_from(">i", dgram, index)
            if n < 0:
                raise Malformed("negative blob size")
            index += 4 + ((n + 3) // 4) * 4
        else:
            index += size
        if index > len(dgram):
            raise Malformed(f"missing data for type tag {tag!r}")
    if index != len(dgram):
        raise Malformed(f"{len(dgram) - index} bytes after the last argument")
    return tags


def parse_datagram(dgram: bytes, out: list[OscMessage] | None = None, depth: int = 0) -> list[OscMessage]:
    """Every OSC message in a datagram; raises Malformed for anything that is not OSC."""
    if out is None:
        out = []
    if dgram.startswith(b"#bundle\x00"):
        _walk_bundle(dgram, out, depth)
    elif dgram[:1] == b"/":
        type_tags(dgram)  # strict: before python-osc, which is lenient and logs per message
        try:
            out.append(OscMessage(dgram))
        except Exception as e:  # python-osc raises ParseError, but random bytes find others too
            raise Malformed(str(e)) from None
    else:
        raise Malformed("not an OSC message or bundle")
    return out


def build_message(address: str, *args: Any) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


# --- the server ------------------------------------------------------------------------------


class OscServer:
    """UDP OSC server on its own thread. `start()` binds (errors raise there, before the show
    starts); `stop()` joins. `port` is the bound port (useful with port 0).

    `sink` is what the server may touch (control/sink.py): `set` and `get_target` for live
    parameters, and `post(name, *args)` for actions with their checked arguments (seed: int;
    scene: str or int; record/start: optional path str); a sink without `post` (plain Params)
    takes no actions. `status_provider()` is also called on the server thread and
    returns any of {'fps', 'content_fps', 'scene', 'recording', 'dropped'} (missing: 0/'';
    'dropped' defaults to this server's count). `inputs()` and `stats()` are safe to call
    from the frame loop.
    """

    def __init__(
        self,
        cfg: OscSection,
        sink,
        status_provider: Callable[[], dict] | None = None,
        port_override: int | None = None,
        status_interval: float = 1.0,
    ):
        self.cfg = cfg
        self.sink = sink
        self._post = getattr(sink, "post", None)
        self.status_provider = status_provider
        self.status_interval = float(status_interval)
        self.host = cfg.host
        self.requested_port = cfg.port if port_override is None else int(port_override)
        if not is_loopback_host(self.host) and not cfg.allow:
            raise ValueError(
                f"osc.allow: binding OSC to {self.host} opens it to the network; list the allowed sources"
            )
        self.source_filter = SourceFilter(cfg.allow)
        self.status_to = parse_host_port(cfg.status_to) if cfg.status_to else None
        self._param_keys = {s.address: s.key for s in live_specs()}
        self.counters = {name: 0 for name in COUNTER_NAMES}  # written by the server thread only
        self._inputs: dict[str, float] = {}
        self._inputs_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._status_addr: tuple | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_log: dict[str, float] = {}
        self.replies = ReplyLimiter()

    # -- lifecycle --

    def start(self) -> "OscServer":
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # absorb bursts
        except OSError:
            pass
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as e:
            sock.close()
            raise OSError(
                e.errno, f"OSC: cannot listen on {self.host}:{self.requested_port}: {e.strerror} "
                "(another show running? choose another port with --osc-port or osc.port)"
            ) from None
        sock.settimeout(0.1)  # wake up to send status and to notice stop()
        self._sock = sock
        if self.status_to is not None:
            self._status_addr = self._resolve(self.status_to, family)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="osc-server", daemon=True)
        self._thread.start()
        log.info("OSC listening on %s:%d", self.host, self.port)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "OscServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("OscServer.port: the server is not started")
        return self._sock.getsockname()[1]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- what the show reads --

    def inputs(self) -> dict[str, float]:
        """OSC input features {'osc.<name>': value} for mappings (a copy)."""
        with self._inputs_lock:
            return dict(self._inputs)

    def stats(self) -> dict[str, int]:
        """A copy of the counters, plus 'dropped' (everything that was not applied)."""
        c = dict(self.counters)
        c["dropped"] = c["malformed"] + c["rejected"] + c["unknown_address"] + c["denied_source"]
        return c

    # -- the thread --

    def _resolve(self, host_port: tuple[str, int], family: int) -> tuple | None:
        try:
            infos = socket.getaddrinfo(host_port[0], host_port[1], family, socket.SOCK_DGRAM)
            return infos[0][4]
        except OSError as e:
            log.warning("OSC: osc.status_to %s:%d cannot be resolved (%s); no status will be sent",
                        host_port[0], host_port[1], e)
            return None

    def _run(self) -> None:
        sock = self._sock
        next_status = time.monotonic() + self.status_interval
        while not self._stop.is_set():
            try:
                try:
                    dgram, addr = sock.recvfrom(65536)
                except socket.timeout:
                    dgram = None
                except OSError:
                    # e.g. ECONNREFUSED surfacing from an earlier status send to a closed port
                    dgram = None
                if dgram is not None:
                    self._handle(dgram, addr)
                now = time.monotonic()
                if now >= next_status:
                    next_status = now + self.status_interval
                    if self._status_addr is not None:
                        self._send(self._status_addr, self._status_dgram())
            except Exception:  # the server thread survives anything
                self._log_limited("internal", "OSC: unexpected error handling a datagram", exc_info=True)

    def _handle(self, dgram: bytes, addr: tuple) -> None:
        if not self.source_filter.allows(addr[0]):
            self.counters["denied_source"] += 1
            self._log_limited("denied", "OSC: dropped datagram from %s (not in osc.allow)", addr[0])
            return
        self.replies.received(addr[0], len(dgram))
        try:
            messages = parse_datagram(dgram)
        except (Malformed, RecursionError) as e:
            self.counters["malformed"] += 1
            self._log_limited("malformed", "OSC: dropped malformed datagram from %s: %s", addr[0], e)
            return
        for msg in messages:
            self.counters["received"] += 1
            self._apply(msg, addr)

    def _apply(self, msg: OscMessage, addr: tuple) -> None:
        address = msg.address
        tags = type_tags(msg.dgram)
        key = self._param_keys.get(address)
        if key is not None:
            args = msg.params
            v = args[0] if len(args) == 1 else None
            if len(tags) != 1 or tags not in NUMBER_TAGS or not isinstance(v, (int, float)) or isinstance(v, bool):
                self._reject(address, "expected one number", args)
                return
            result = self.sink.set(key, v)
            if result is SetResult.REJECTED:
                self._reject(address, "expected a finite number", args)
            elif result is SetResult.CLAMPED:
                self.counters["clamped"] += 1
                self.counters["applied"] += 1
            else:
                self.counters["applied"] += 1
            return
        action = BY_ADDRESS.get(address)
        if action is not None:
            if self._post is None:
                self.counters["unknown_address"] += 1
                self._log_limited("unknown", "OSC: no handler for action %s here", address)
                return
            call_args = action.check(msg.params) if not set(tags) - NUMBER_TAGS - {"s"} else None
            if call_args is None:
                self._reject(address, f"expected {action.args or 'no arguments'}", msg.params)
                return
            try:
                self._post(action.name, *call_args)
            except Exception:
                self.counters["rejected"] += 1
                self._log_limited("action", "OSC: action %s failed", address, exc_info=True)
                return
            self.counters["applied"] += 1
            return
        if address.startswith(INPUT_PREFIX):
            if tags not in NUMBER_TAGS:
                self._reject(address, "expected /installation/input/<name> <number>", msg.params)
                return
            self._input(address[len(INPUT_PREFIX):], msg.params, address)
        elif address == GET_ADDRESS:
            self._get(msg.params, addr)
        elif address == STATUS_ADDRESS:
            self.counters["applied"] += 1
            self._reply(addr, self._status_dgram())
        else:
            self.counters["unknown_address"] += 1
            self._log_limited("unknown", "OSC: unknown address %s", address)

    def _input(self, name: str, args: list, address: str) -> None:
        v = args[0] if len(args) == 1 else None
        if (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
                or not _INPUT_NAME.match(name)):
            self._reject(address, "expected /installation/input/<name> <number>", args)
            return
        key = "osc." + name
        with self._inputs_lock:
            if key not in self._inputs and len(self._inputs) >= MAX_INPUTS:
                full = True
            else:
                self._inputs[key] = float(v)
                full = False
        if full:
            self._reject(address, f"more than {MAX_INPUTS} distinct inputs", args)
        else:
            self.counters["applied"] += 1

    def _get(self, args: list, addr: tuple) -> None:
        target = args[0] if len(args) == 1 else None
        key = self._param_keys.get(target) if isinstance(target, str) else None
        if key is None:
            self._reject(GET_ADDRESS, "expected one live parameter address", args)
            return
        self.counters["applied"] += 1
        self._reply(addr, build_message(target, float(self.sink.get_target(key))))

    def status_values(self) -> list:
        """The /installation/status arguments, in STATUS_FIELDS order."""
        info: dict = {}
        if self.status_provider is not None:
            try:
                info = dict(self.status_provider() or {})
            except Exception:
                self._log_limited("status", "OSC: status_provider failed", exc_info=True)
        info.setdefault("dropped", self.stats()["dropped"])
        out = []
        for name, kind, _ in STATUS_FIELDS:
            v = info.get(name)
            try:
                v = kind(v) if v is not None else kind()
            except (TypeError, ValueError):
                v = kind()
            if kind is float and not math.isfinite(v):
                v = 0.0
            out.append(v)
        return out

    def _status_dgram(self) -> bytes:
        return build_message(STATUS_ADDRESS, *self.status_values())

    def _reply(self, addr: tuple, dgram: bytes) -> None:
        """Answer a query to its (allowed) source, within the sender's byte credit and the rate caps."""
        if not self.source_filter.allows(addr[0]) or not self.replies.allow(addr[0], len(dgram), time.monotonic()):
            self.counters["replies_limited"] += 1
            self._log_limited("replies", "OSC: reply to %s not sent (reply limit: never more bytes than it "
                              "sent, at most %d a second)", addr[0], self.replies.per_sender)
            return
        self._send(addr, dgram)

    def _send(self, addr: tuple, dgram: bytes) -> None:
        try:
            self._sock.sendto(dgram, addr)
        except OSError as e:
            self._log_limited("send", "OSC: cannot send to %s: %s", addr, e)

    def _reject(self, address: str, why: str, args: list) -> None:
        self.counters["rejected"] += 1
        self._log_limited("rejected", "OSC: dropped %s %r: %s", address, list(args)[:4], why)

    def _log_limited(self, kind: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        """At most one log line per kind every 10 s: a flood must not become a log flood."""
        now = time.monotonic()
        if now - self._last_log.get(kind, -1e9) >= 10.0:
            self._last_log[kind] = now
            log.warning(msg + " (further ones within 10 s are only counted)", *args, exc_info=exc_info)
