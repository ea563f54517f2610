"""Start and stop the web app: a private workspace, Gradio set up offline (analytics off,
no share tunnel, no server-side rendering, no MCP), one job at a time, and the workspace
removed when the server stops."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MosaicganError
from ..imageio import set_max_pixels
from .workspace import Workspace

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 500


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Server:
    """A running app: ``url`` to open; :meth:`close` stops it and removes its workspace."""

    app: Any
    url: str
    workspace: Workspace

    def close(self) -> None:
        try:
            self.app.close()
        finally:
            self.workspace.remove()


def start(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, models: Sequence[str] = (),
          runs: str | Path | None = None, max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
          max_pixels: int | None = None) -> Server:
    """Start the app in this process (its server runs in a thread) and return at once.

    max_pixels: the pixel limit of :mod:`mosaicgan.imageio` for this process (None: the
    one in force; uploads are checked against it when they arrive).
    """
    if max_pixels is not None:
        set_max_pixels(max_pixels)
    workspace = Workspace(max_upload_mb)
    try:
        # Read by gradio when it is imported and when the app is built: set first.
        os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
        os.environ["GRADIO_TEMP_DIR"] = str(workspace.gradio_dir)
        try:
            import gradio  # noqa: F401
        except ImportError:
            raise MosaicganError("the web app needs gradio, which is not installed: "
                                 "pip install 'mosaicgan[ui]'") from None
        from .. import api
        from .app import CSS, build_app
        from .context import Context

        for source in models:
            api.describe_model(source)  # a bad --model fails now, in one line
        ctx = Context(workspace, list(models), None if runs is None else Path(runs))
        app = build_app(ctx)
        app.queue(default_concurrency_limit=1)
        app.launch(server_name=host, server_port=port, share=False, inbrowser=False,
                   prevent_thread_lock=True, quiet=True, ssr_mode=False, pwa=False,
                   mcp_server=False, enable_monitoring=False, footer_links=[],
                   max_file_size=f"{max_upload_mb}mb", css=CSS)
    except BaseException:
        workspace.remove()
        raise
    return Server(app, app.local_url, workspace)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, models: Sequence[str] = (),
          runs: str | Path | None = None, max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
          max_pixels: int | None = None, log: Any = print) -> None:
    """Run the app until Ctrl-C or SIGTERM, then stop it and remove its workspace."""
    if not is_loopback(host):
        log(f"warning: serving on {host}: anyone who can reach this machine on that "
            "network can use the app (upload files, run the models)")
    server = start(host, port, models, runs, max_upload_mb, max_pixels)
    stop = threading.Event()
    # Ctrl-C and SIGTERM both stop it (a process started in the background ignores SIGINT
    # unless a handler is set).
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    log(f"mosaicgan ui: {server.url} (Ctrl-C stops it)")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
        log("stopped; the uploaded and produced files are removed")
    sys.stdout.flush()
