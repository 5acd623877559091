"""OSCQuery: the show's parameter tree (live table + action table) served over HTTP and advertised over mDNS.

Clients (TouchOSC, Chataigne, Vezer, ossia score) GET `/` for the whole tree, a node's path for
that node, `?HOST_INFO` for where to send OSC, or `<path>?VALUE` (any attribute) for one field.
Values are read from the sink when asked. The server runs on its own threads (one per request,
short timeouts); it reads the sink and never writes it. A bad request is answered with a 4xx.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from installation.actions import ACTIONS
from installation.control.network import SourceFilter, is_loopback_host
from installation.live import live_specs

log = logging.getLogger(__name__)

SERVICE_TYPE = "_oscjson._tcp.local."
ACCESS_READ_WRITE = 3
ACCESS_WRITE_ONLY = 2
ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "RANGE", "VALUE", "DESCRIPTION", "ACCESS")
MAX_CLIENTS = 32  # connections answered at once
REQUEST_TIMEOUT = 5.0  # seconds a client may take to send its request: a stalled one frees its thread
# What each action's arguments look like as OSC type tags ("" takes none).
_ACTION_TYPES = {"<int>": "i", "<index>": "i", "<name or index>": "s", "[name.mp4]": "s", "<parameter>": "s",
                 "<x> <y> [strength]": "fff"}


def build_tree(sink) -> dict:
    """The OSCQuery namespace: {'FULL_PATH': '/', 'CONTENTS': {...}}; leaves hold the live
    parameters (read-write, current values from the sink) and the OSC actions (write-only)."""
    root = {"FULL_PATH": "/", "CONTENTS": {}}

    def node(address: str) -> dict:
        here = root
        parts = address.strip("/").split("/")
        for i, part in enumerate(parts):
            here = here["CONTENTS"].setdefault(part, {"FULL_PATH": "/" + "/".join(parts[:i + 1]), "CONTENTS": {}})
        del here["CONTENTS"]  # a leaf
        return here

    for spec in live_specs():
        value = sink.get_target(spec.key)
        leaf = node(spec.address)
        leaf.update(TYPE="f", RANGE=[{"MIN": spec.lo, "MAX": spec.hi}], ACCESS=ACCESS_READ_WRITE,
                    DESCRIPTION=spec.doc, VALUE=[float(spec.default if value is None else value)])
    for action in ACTIONS:
        if action.address is not None:
            node(action.address).update(TYPE=_ACTION_TYPES.get(action.args, ""), ACCESS=ACCESS_WRITE_ONLY,
                                        DESCRIPTION=action.doc)
    return root


def find_node(tree: dict, path: str) -> dict | None:
    here = tree
    for part in [p for p in path.split("/") if p]:
        here = here.get("CONTENTS", {}).get(part)
        if here is None:
            return None
    return here


class OscQueryServer:
    """HTTP on (host, port) beside the OSC server at `osc_port`; `start()` binds (errors raise
    there, before the first frame), `stop()` closes. `port` is the bound port (port 0: any)."""

    def __init__(self, sink, host: str, port: int, osc_port: int, allow: list[str], name: str = "installation",
                 advertise: bool = True):
        if not is_loopback_host(host) and not allow:
            raise ValueError(f"osc.allow: serving OSCQuery on {host} opens it to the network; list the allowed sources")
        self.sink = sink
        self.host = host
        self.requested_port = int(port)
        self.osc_port = int(osc_port)
        self.name = name
        self.advertise = advertise
        self.source_filter = SourceFilter(allow)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("OscQueryServer.port: the server is not started")
        return self._httpd.server_address[1]

    def host_info(self) -> dict:
        # OSC_IP only for a specific address: without it a client sends OSC to the host it asked.
        ip = {} if self.host in ("0.0.0.0", "::") else {"OSC_IP": self.host}
        return {"NAME": self.name, **ip, "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {**{a: True for a in ("ACCESS", "VALUE", "RANGE", "DESCRIPTION")},
                               **{a: False for a in ("TAGS", "CLIPMODE", "LISTEN", "PATH_CHANGED")}}}

    def start(self) -> "OscQueryServer":
        server = self

        class Handler(_Handler):
            query = server

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        httpd_cls = type("QueryHTTPServer", (_BoundedHTTPServer,), {"address_family": family})
        try:
            self._httpd = httpd_cls((self.host, self.requested_port), Handler)
        except OSError as e:
            raise OSError(e.errno, f"OSCQuery: cannot listen on {self.host}:{self.requested_port}: {e.strerror} "
                          "(choose another port with --query-port or osc.query_port)") from None
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="oscquery-http", daemon=True)
        self._thread.start()
        log.info("OSCQuery on http://%s:%d/", self.host, self.port)
        if self.advertise:
            threading.Thread(target=self._advertise, name="oscquery-mdns", daemon=True).start()
        return self

    def _advertise(self) -> None:
        """The mDNS advert's whole life on its own thread: register, wait for stop(), say goodbye
        (probing and goodbyes take ~1 s each: never on the show's way in or out)."""
        zc = None
        try:
            from zeroconf import IPVersion, ServiceInfo, Zeroconf

            all_hosts = self.host in ("0.0.0.0", "::")
            zc = Zeroconf(interfaces=None if all_hosts else [self.host],
                          ip_version=IPVersion.V6Only if ":" in self.host else IPVersion.V4Only)
            label = re.sub(r"[^A-Za-z0-9 _-]", "-", self.name)[:48] or "installation"  # an mDNS label
            info = ServiceInfo(SERVICE_TYPE, f"{label}-{self.port}.{SERVICE_TYPE}", port=self.port,
                               parsed_addresses=_local_addresses() if all_hosts else [self.host],
                               server=f"{socket.gethostname()}.local.", properties={"osc_port": str(self.osc_port)})
            zc.register_service(info, allow_name_change=True)
            log.info("OSCQuery advertised over mDNS as %s", info.name)
            self._stopping.wait()
            zc.unregister_service(info)
        except Exception as e:  # mDNS is a convenience: the tree is still served without it
            log.warning("OSCQuery: not advertised over mDNS (%s); clients can still connect to %s:%d",
                        e, self.host, self.port)
        finally:
            if zc is not None:
                zc.close()

    def stop(self) -> None:
        self._stopping.set()  # the advert says goodbye on its own thread
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None


def _local_addresses() -> list[str]:
    try:
        return sorted({i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)})
    except OSError:
        return ["127.0.0.1"]


class _BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per client, at most MAX_CLIENTS at once: a connection flood costs threads, never the show."""

    daemon_threads = True
    request_queue_size = 128  # the stdlib's 5 would make clients wait in SYN retries

    def __init__(self, *args, **kw):
        self.active = 0  # clients being answered now
        self._active_lock = threading.Lock()
        super().__init__(*args, **kw)

    def process_request(self, request, client_address):
        with self._active_lock:
            full = self.active >= MAX_CLIENTS
            if not full:
                self.active += 1
        if full:
            self.shutdown_request(request)  # over the cap: closed at once
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self.active -= 1


class _Handler(BaseHTTPRequestHandler):
    query: OscQueryServer
    timeout = REQUEST_TIMEOUT
    protocol_version = "HTTP/1.1"
    server_version = "installation-oscquery"

    def log_message(self, fmt, *args) -> None:  # every request on stderr would drown the show's log
        log.debug("OSCQuery %s: " + fmt, self.client_address[0], *args)

    def do_GET(self) -> None:
        try:
            if not self.query.source_filter.allows(self.client_address[0]):
                self._send(403, {"error": "source not in osc.allow"})
                return
            url = urlsplit(self.path)
            path, attr = unquote(url.path), url.query
            if attr == "HOST_INFO":
                self._send(200, self.query.host_info())
                return
            if attr and attr not in ATTRIBUTES:
                self._send(400, {"error": f"unknown attribute {attr!r}"})
                return
            node = find_node(build_tree(self.query.sink), path)
            if node is None:
                self._send(404, {"error": f"no node {path!r}"})
            elif attr:
                if attr not in node:
                    self._send(204, None)  # the spec: an attribute the node lacks is 204 No Content
                else:
                    self._send(200, {attr: node[attr]})
            else:
                self._send(200, node)
        except Exception:  # a client must never take a thread (or the show) down with a traceback
            log.warning("OSCQuery: error answering %r", self.path, exc_info=True)
            try:
                self._send(400, {"error": "bad request"})
            except OSError:
                pass

    def _refuse(self) -> None:
        self._send(405, {"error": "OSCQuery here answers GET only; send values over OSC"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _send(self, code: int, body) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
