"""What the browser tests ask of a JupyterLab page (tests/live/test_browser.py, test_classroom.py)."""
from __future__ import annotations

from urllib.parse import urlparse

LOOPBACK = ("127.0.0.1", "localhost", "::1")

KERNEL_IDLE = """() => {
  const name = document.querySelector('.jp-NotebookPanel-toolbar .jp-KernelName');
  const busy = document.querySelector('.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator');
  return name && !/No Kernel/.test(name.textContent) && busy && busy.dataset.status === 'idle';
}"""
# Done when every code cell shows its execution count, or as soon as one shows an error.
ALL_RAN_OR_ERROR = """(n) => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  const errors = document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
  const traceback = [...errors].some(e => /Traceback|Error/.test(e.textContent));
  return traceback || (prompts.length === n && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
}"""


def loopback_only(outside: list[str]):
    """A Playwright route handler: requests to this machine's loopback go on; any other is aborted
    and noted in `outside` (the page must ask nothing of the internet)."""
    def route(request_route):
        url = urlparse(request_route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOOPBACK:
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()
    return route
