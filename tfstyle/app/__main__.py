"""`python -m tfstyle.app`: the web app, for painting without a terminal.

    python -m tfstyle.app                              # http://127.0.0.1:7860, models from runs/
    python -m tfstyle.app --port 8080 --models_dir ~/tfstyle-runs

Serves the page on this computer only (127.0.0.1) unless `--host` says otherwise, and prints its address. It
works offline: Gradio's analytics, version check, share link, server-side rendering and run history are off,
and the page's scripts, styles and fonts all come from this server.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import flags

from tfstyle import cli
from tfstyle.app.config import AppConfig

logger = logging.getLogger("tfstyle.app")

# Set before Gradio is imported (it reads some at import): nothing leaves this computer.
OFFLINE_ENVIRONMENT = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # usage analytics and the PyPI version check
    "GRADIO_SSR_MODE": "False",  # no Node server-side rendering
    "GRADIO_RUN_HISTORY": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

flags.DEFINE_bool("verbose", False, "debug logging")
cli.define_flags(AppConfig)
FLAGS = flags.FLAGS


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])} (flags need --name=value)")
    cli.setup_logging(FLAGS.verbose)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's requests to itself at start-up
    config = cli.config_from_flags(AppConfig).validate()
    os.environ.update(OFFLINE_ENVIRONMENT)
    from tfstyle import distribute
    from tfstyle.app import handlers, ui

    handler = handlers.Handlers(config)
    page = ui.build(handler, has_gpu=distribute.has_gpu())
    page.queue(max_size=config.queue_size, default_concurrency_limit=1)
    try:
        page.launch(server_name=config.host, server_port=config.port, share=False, show_error=True,
                    max_file_size=config.max_upload_bytes, prevent_thread_lock=True, quiet=True,
                    ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, run_history=False,
                    footer_links=["api", "settings"], allowed_paths=[ui.ASSETS])
    except OSError:  # Gradio's message suggests its own environment variables: say it in the flags' terms
        raise ValueError(f"cannot serve on {config.host}:{config.port}: the port is in use or the address is not "
                         "one of this computer's (choose another --port or --host)") from None
    print(f"tfstyle app: {config.url}", flush=True)
    logger.info("serving %s (Ctrl-C stops); results in %s", config.url, handler.work_dir)
    try:
        page.block_thread()
    finally:
        page.close()
    return 0


run = cli.main_wrapper(main)

if __name__ == "__main__":
    sys.exit(run())
