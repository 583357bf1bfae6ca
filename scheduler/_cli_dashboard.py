"""``scheduler dashboard --store URL``: the dashboard for any store, standard library only.

It serves the pages of :mod:`scheduler.dashboard` with ``wsgiref`` (one thread per request)
from a bare store: no app is imported, so teams on plain scripts get the dashboard too.

Safe defaults: it binds to 127.0.0.1 (only this machine can reach it), it is read-only
unless ``--allow-actions`` is given, and the store URL is printed with its password masked.
The pages have no login: bind to another address only behind something that authenticates
(a reverse proxy, an SSH tunnel), which the start-up line reminds you of.

Exit codes: 0 after SIGINT/SIGTERM, 1 when the store cannot be reached at start, 2 for a bad
URL, bind address or zone.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from .stores import Store

__all__ = ["DashboardServer", "add_parser", "build_store", "cmd_dashboard", "parse_bind", "serve"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class DashboardServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client must not hold the exit
    allow_reuse_address = True


class _SilentHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _DashboardServer6(DashboardServer):
    address_family = socket.AF_INET6


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[::1]:PORT`` or ``PORT`` (on 127.0.0.1).

    :raises ValueError: anything else, or a port outside 0-65535
    """
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--bind: expected HOST:PORT (127.0.0.1:8080), got {text!r}")
    return host, int(port)


def serve(
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    allow_actions: bool = False,
    default_timezone: Any = None,
    quiet: bool = False,
) -> DashboardServer:
    """A server (not yet serving: call ``serve_forever``) for the dashboard of an opened
    ``store``; ``server.server_address`` holds the port chosen for ``port=0``."""
    from ._tz import UTC, zone
    from .dashboard import Dashboard, StoreSource, wsgi_app

    source = StoreSource(store, default_timezone=zone(default_timezone) if default_timezone
                         else UTC)
    dashboard = Dashboard(source, allow_actions=allow_actions)
    access = "actions" if allow_actions else True
    app = wsgi_app(dashboard, lambda environ: access)
    handler = _SilentHandler if quiet else WSGIRequestHandler
    server_class = _DashboardServer6 if ":" in host else DashboardServer
    server = make_server(host, port, app, server_class=server_class, handler_class=handler)
    assert isinstance(server, DashboardServer)
    return server



def build_store(url: str, prefix: str | None) -> Store:
    """The store at ``url`` (not opened yet).

    :raises UsageError: a bad URL or prefix, or a store private to one process (memory)
    """
    from .cli import UsageError
    from .exceptions import ConfigurationError
    from .stores import from_url
    from .stores._url import mask_url

    shown = mask_url(url)
    try:
        store = from_url(url, **({"prefix": prefix} if prefix else {}))
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    except TypeError:
        raise UsageError(f"--prefix does not apply to {shown}") from None
    if not store.shared:
        raise UsageError(
            f"{shown} is private to one process, so this one would show an empty store: give "
            f"the URL of the store the schedulers share (sqlite:///..., postgresql://..., "
            f"redis://...)"
        )
    return store


def cmd_dashboard(args: argparse.Namespace, out: TextIO) -> int:
    from ._tz import zone
    from .cli import UsageError
    from .exceptions import ConfigurationError, StoreUnavailable
    from .stores._url import mask_url

    try:
        host, port = parse_bind(args.bind)
        default_zone = zone(args.timezone) if args.timezone else None
    except (ValueError, ConfigurationError) as exc:
        raise UsageError(f"{'--timezone: ' if isinstance(exc, ConfigurationError) else ''}"
                         f"{exc}") from None
    shown = mask_url(args.store)
    store = build_store(args.store, args.prefix)
    try:
        store.open()
    except StoreUnavailable as exc:
        print(f"scheduler dashboard: cannot reach the store {shown}: {mask_url(str(exc))}",
              file=sys.stderr)
        return EXIT_FAILURE
    try:
        try:
            server = serve(store, host=host, port=port, allow_actions=args.allow_actions,
                           default_timezone=default_zone)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        _stop_on_signals(server)
        bound_port = server.server_address[1]
        where = f"[{host}]" if ":" in host else host
        mode = "actions allowed" if args.allow_actions else "read-only"
        out.write(f"serving the dashboard of {shown} at http://{where}:{bound_port}/ "
                  f"({mode}); Ctrl+C stops it\n")
        if host not in LOOPBACK:
            out.write(f"warning: {host} is reachable from other machines and the pages have "
                      f"no login: put an authenticating proxy in front of it\n")
        out.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
    finally:
        store.close()
    return EXIT_OK


def _stop_on_signals(server: DashboardServer) -> None:
    """SIGINT and SIGTERM stop ``server`` (installed before the start-up line is printed,
    so a supervisor that signals as soon as it reads it is heard). Main thread only."""

    def on_signal(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever to return: not from the thread running it
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


def add_parser(sub: Any) -> None:
    """The ``dashboard`` subcommand (``cli.py`` keeps only this call)."""
    dash = sub.add_parser(
        "dashboard",
        help="serve the web dashboard of a store (wsgiref, standard library)",
        description="Serve the dashboard (jobs, next fires, runs, instances) of the store at "
        "URL. Binds to 127.0.0.1 and is read-only unless --allow-actions is given; the pages "
        "have no login, so expose it only behind an authenticating proxy.",
    )
    dash.add_argument("--store", required=True, help="store URL (sqlite:///..., postgresql://...)")
    dash.add_argument("--bind", default="127.0.0.1:8080", help="HOST:PORT (127.0.0.1:8080)")
    dash.add_argument("--allow-actions", action="store_true",
                      help="show Run now, Pause and Resume (POST, CSRF-protected)")
    dash.add_argument("--prefix", default=None,
                      help="table/key prefix the schedulers use (the store's default)")
    dash.add_argument("--timezone", default=None,
                      help="zone of jobs whose trigger has none (the app's default; UTC)")
    dash.set_defaults(func=cmd_dashboard)
