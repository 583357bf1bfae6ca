"""The browser harness itself, on a page served from this process: a failure here is the
harness (browser, Playwright, flags), not the dashboard."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

PAGE = b"""<!doctype html><html><head><title>harness</title></head><body>
<h1 id="greeting">hello</h1>
<form method="post" action="/echo"><input name="word" value="posted"><button>Send</button></form>
</body></html>"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._send(PAGE)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(b"<!doctype html><p id='echo'>" + body + b"</p>")

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_browser_loads_a_page_and_submits_a_form(page: Any, local_url: str) -> None:
    page.goto(local_url)
    assert page.title() == "harness"
    assert page.text_content("#greeting") == "hello"
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#echo")
    assert page.text_content("#echo") == "word=posted"
