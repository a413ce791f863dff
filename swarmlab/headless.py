"""Run the lessons headless: executed notebooks and HTML handouts (by default under build/lessons/).

The lessons ship inside the package (swarmlab/data/notebooks, a link to the
checkout's notebooks/ that a build turns into files), so `swarmlab lessons run`
works from an installed swarmlab as from a checkout. Needs the `lessons` extra.
"""
from __future__ import annotations

import atexit
import os
import re
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

from . import editions, staging
from .claims import claims_checked
from .cluster import connect
from .errors import SwarmlabError
from .i18n import FOLDER_MARKER
from .inventory import load_inventory
from .lab import teardown
from .lessons import INVENTORY, LIVE, inventory_path, lesson_lab_name, put_back_first
from .transport.recording import Masker

NOTEBOOKS = editions.NOTEBOOKS
# Handouts are read offline: the widget manager (@jupyter-widgets/html-manager's embed.js, BSD-3,
# its licence beside it) ships with swarmlab and is inlined with the widgets' state.
HANDOUT = Path(__file__).resolve().parent / "data" / "handout"
WIDGET_MANAGER_JS = HANDOUT / "html-manager-embed.js"
BUILD = Path("build") / "lessons"  # under the folder it runs in
BACKENDS = ("auto", "live", "replay", "inventory")


def lesson_paths(directory: Path = NOTEBOOKS) -> list[Path]:
    paths = sorted(Path(directory).glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        raise SwarmlabError(f"no lessons (NN-topic.ipynb) in {directory}")
    return paths


def run_lessons(backend: str = "auto", directory: Path = NOTEBOOKS, out: Path = BUILD,
                only: list[str] | None = None, timeout: int = 600, progress=print, inventory=None,
                lang: str = "en"):
    """Execute every lesson in order; return a table (lesson, backend, cells, claims, seconds, status).

    claims: how many of the lesson's claims about its outputs were checked (all true,
    or the lesson failed). lang: "en", or a translated edition ("zh"), built from the English
    lessons (swarmlab.editions) and written under out/LANG/; it replays the English recordings.
    """
    if lang != "en" and lang not in editions.EDITIONS:
        raise SwarmlabError(f"no {lang!r} edition of the lessons: use en or {' or '.join(editions.EDITIONS)}")
    if backend not in BACKENDS:
        raise SwarmlabError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if inventory:
        os.environ["SWARMLAB_INVENTORY"] = str(Path(inventory).expanduser().resolve())
    if backend == INVENTORY:
        load_inventory(inventory_path())  # a bad file stops here, with its one-line error
        if staging.pending(inventory_path()) is not None:  # a lesson killed before it put the hosts back
            with connect(inventory_path()) as cluster:
                put_back_first(cluster, inventory_path(), say=progress or (lambda line: None))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in lesson_paths(directory):
        if only and not any(path.name.startswith(o) for o in only):
            continue
        row = run_lesson(path, backend, out, timeout, lang=lang)
        rows.append(row)
        if progress:
            progress(f"{row['lesson']:<28} {row['backend']:<9} {row['cells']:>3} cells "
                     f"{row['claims'] if row['claims'] is not None else '-':>3} claims "
                     f"{row['seconds']:6.1f} s  {row['status']}")
    return pd.DataFrame(rows)


def run_lesson(path: Path, backend: str, out: Path, timeout: int = 600, lang: str = "en") -> dict:
    """Execute one English lesson, or its `lang` edition (built from it, written under out/LANG/)."""
    if lang == "en":
        return _run_notebook(path, nbformat.read(path, as_version=4), backend, Path(out), timeout, lang)
    with tempfile.TemporaryDirectory(prefix=f"swarmlab-{lang}-") as folder:
        (Path(folder) / FOLDER_MARKER).write_text(lang + "\n")  # the kernel starts there: it speaks `lang`
        return _run_notebook(Path(folder) / path.name, editions.build(path, lang), backend, Path(out) / lang,
                             timeout, lang)


def _run_notebook(path: Path, nb, backend: str, out: Path, timeout: int, lang: str) -> dict:
    Path(out).mkdir(parents=True, exist_ok=True)
    env_before = {name: os.environ.get(name) for name in ("SWARMLAB_BACKEND", "SWARMLAB_LANG")}
    os.environ["SWARMLAB_BACKEND"] = backend  # the lesson's first cell reads it
    os.environ["SWARMLAB_LANG"] = lang  # and every sentence it says (swarmlab.i18n), whatever the locale
    started = time.monotonic()
    status, error = "ok", ""
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        # The kernel talks over private socket files, not TCP ports on this machine.
        with tempfile.TemporaryDirectory(prefix="swarmlab-kernel-") as sockets:
            client.km = client.kernel_manager_class(kernel_name="python3", transport="ipc",
                                                    ip=f"{sockets}/kernel")
            with _stopping_the_kernel_on_signals(client) as stopped:
                try:
                    _execute(client, stopped)
                except Exception:
                    if not stopped:
                        raise
            if stopped:  # the kernel is gone: undo what the lesson set up, then stop as the signal asks
                _clean_up_after_failure(path.name[:2], _backend_used(nb) or backend)
                _deliver(stopped[0])
    except CellExecutionError as exc:
        status = "failed: " + _first_error_line(str(exc))
        error = _error_text(exc)
        _clean_up_after_failure(path.name[:2], _backend_used(nb) or backend)
    finally:
        for name, value in env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    seconds = time.monotonic() - started
    nb = masked(nb)  # a handout is shared: a live run's join tokens and keys stay out of it
    nbformat.write(nb, out / path.name)
    _write_html(nb, out / path.with_suffix(".html").name, lang)
    used = _backend_used(nb) or backend
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    return {"lesson": path.stem, "backend": used, "cells": cells, "claims": claims_checked(_printed(nb)),
            "seconds": round(seconds, 1), "status": status, "error": error}


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _stopping_the_kernel_on_signals(client):
    """While a lesson runs, Ctrl-C or SIGTERM kills its kernel (it runs in a session of its own,
    so the signal reached only this process) and is noted in the list yielded; nbclient then
    ends as on any dead kernel, and the caller undoes what the lesson set up before it stops."""
    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def stop(signum, frame):
        if not stopped:
            stopped.append(signum)
        _kill_kernel(client)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield stopped
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _execute(client, stopped: list[int]) -> None:
    """client.execute() in a thread of its own, so that nbclient installs no signal handlers of
    its own (on the main thread it does: a signal then shuts the kernel down under it, and it
    ends in AssertionError and ZMQError tracebacks). This thread waits, and gets the signals."""
    outcome: list[BaseException] = []

    def work():
        try:
            client.execute()
        except BaseException as exc:  # handed to the thread that waits
            outcome.append(exc)

    worker = threading.Thread(target=work, name="swarmlab-lesson", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
        if stopped:  # a kernel that started after the signal goes too
            _kill_kernel(client)
    if stopped:  # nbclient's own clean-up at exit would find the kernel gone, and fail on it
        atexit.unregister(client._cleanup_kernel)
    if outcome:
        raise outcome[0]


def _kill_kernel(client) -> bool:
    """Kill the lesson's kernel at once; False when it has none running."""
    process = getattr(getattr(getattr(client, "km", None), "provisioner", None), "process", None)
    if process is None or process.poll() is not None:
        return False
    try:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the kernel and what it started
    except OSError:
        process.kill()
    return True


def _deliver(signum: int) -> None:
    """Stop as the signal asks, with the handler that was there before the lesson ran: the CLI's
    one line for Ctrl-C and SIGTERM, KeyboardInterrupt, or the default."""
    signal.raise_signal(signum)
    raise KeyboardInterrupt  # a handler that returned (SIG_IGN): the run stops all the same


def _clean_up_after_failure(lesson_id: str, backend: str) -> None:
    """A lesson that failed never reached lesson.close(): undo what it set up."""
    if backend == LIVE:
        teardown(lesson_lab_name(lesson_id))
    elif backend == INVENTORY:
        with connect(inventory_path()) as cluster:
            staging.restore(cluster, inventory_path())


def _printed(nb) -> str:
    """What the lesson's cells printed (stdout), in order."""
    return "".join(str(o.get("text", "")) for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


def masked(node, masker: Masker | None = None):
    """The notebook (or any part of it) with every swarm token and private key in its text
    masked as recordings mask them: SWMTKN-1-masked-1, ..."""
    masker = masker or Masker()
    if isinstance(node, str):
        return masker.mask(node)
    if isinstance(node, dict):
        return type(node)({key: masked(value, masker) for key, value in node.items()})
    if isinstance(node, list):
        return [masked(item, masker) for item in node]
    return node


def _write_html(nb, target: Path, lang: str = "en") -> None:
    target.write_text(handout_html(nb, lang))


def handout_html(nb, lang: str = "en") -> str:
    """One self-contained HTML page: outputs, widget state and the widget manager, nothing fetched."""
    exporter = HTMLExporter(template_name="swarmlab-handout",
                            extra_template_basedirs=[str(HANDOUT / "templates")])
    script = WIDGET_MANAGER_JS.read_text()
    if "</script" in script.lower():  # would end the inline <script> early
        raise SwarmlabError(f"{WIDGET_MANAGER_JS} contains '</script' and cannot be inlined")
    exporter.language_code = lang  # <html lang="zh">: a browser then draws the text with a CJK font
    body, _ = exporter.from_notebook_node(nb, resources={"swarmlab_widget_manager_js": script})
    return body


def _backend_used(nb) -> str | None:
    """The backend the lesson announced in its outputs ("swarmlab backend: live ...")."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            for line in str(text).splitlines():
                used = re.match(r"swarmlab backend: ([a-z]+)", line)  # the same words in every language
                if used:
                    return used.group(1)
    return None


def _error_text(exc: CellExecutionError) -> str:
    """The failed cell's exception, whole (a claim's message quotes a table over many lines)."""
    if getattr(exc, "ename", None):
        return re.sub(r"\x1b\[[0-9;]*m", "", f"{exc.ename}: {exc.evalue}")
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc))


def _first_error_line(message: str) -> str:
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)  # the kernel colours its tracebacks
    lines = [l for l in message.splitlines() if l.strip()]
    # The exception's own line ("ClaimError: ..."), not a line of output quoted in its message.
    errors = [l for l in lines if re.match(r"[A-Za-z_.]+(Error|Exception): ", l)] or [l for l in lines if "Error" in l]
    return (errors[-1] if errors else lines[-1] if lines else "error")[:200]


def strip_solutions(source: Path, target: Path) -> int:
    """Write a student copy of a lesson without the cells tagged 'solution'; return how many went."""
    nb = nbformat.read(source, as_version=4)
    kept = [c for c in nb.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
    removed = len(nb.cells) - len(kept)
    nb.cells = kept
    nbformat.write(nb, target)
    return removed
