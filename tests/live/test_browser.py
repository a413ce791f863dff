"""A real browser on JupyterLab: a lesson runs from its recording; its table, picture and widget render.

JupyterLab serves a temporary copy of the lessons on 127.0.0.1 (a random token, its
own config, data, runtime and settings folders), with SWARMLAB_BACKEND=replay so
no lab is needed. Debian's chromium (headless, a fresh profile, no background
networking) opens lesson 4, runs every cell from the Run menu, and the test checks
what a student would see: a DataFrame table, the topology picture, the node console
widget (and that it answers a click), no "Error displaying widget", no traceback.
Requests to anything but loopback are blocked and fail the test. Screenshots and the
phase timings go to build/test-artifacts/. Every wait is bounded; the server is shut
down (and its kernel with it) at the end.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from jupyterpage import ALL_RAN_OR_ERROR, KERNEL_IDLE, loopback_only
from conftest import ROOT
from swarmlab.i18n import FOLDER_MARKER

LESSON = "04-investigate.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "build" / "test-artifacts"
BUDGET = 90.0  # seconds for the whole test; it takes about 25 s on 2 cores
# JupyterLab settings: every cell in the DOM (no virtual scrolling), no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}
ZH_SETTINGS = {"@jupyterlab/translation-extension/plugin.jupyterlab-settings": {"locale": "zh_CN"}}
ZH_LESSON = "03-deploy-and-fail.ipynb"  # its text, a table (the task history) and a plot with Chinese labels


class Timer:
    def __init__(self):
        self.started = time.monotonic()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        self.phases[phase] = round(time.monotonic() - self.started, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


@pytest.fixture
def jupyter_lab(tmp_path):
    """JupyterLab on 127.0.0.1 with a copy of the lessons, in replay mode; yields (base url, token, log)."""
    yield from _serve_lab(tmp_path, sorted((ROOT / "notebooks").glob("*.ipynb")), LAB_SETTINGS, "browser-jupyter.log")


@pytest.fixture
def jupyter_lab_zh(tmp_path):
    """The same, with the Chinese lessons (and their folder's language marker) and JupyterLab in Chinese:
    the language pack (jupyterlab-language-pack-zh-CN) chosen in the translation settings."""
    zh = ROOT / "notebooks" / "zh"
    yield from _serve_lab(tmp_path, [*sorted(zh.glob("*.ipynb")), zh / FOLDER_MARKER],
                          LAB_SETTINGS | ZH_SETTINGS, "browser-zh-jupyter.log")


def _serve_lab(tmp_path, files, lab_settings, log_name):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    for path in files:
        shutil.copy(path, lessons)
    settings = tmp_path / "lab-settings"
    for name, value in lab_settings.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    runtime = tmp_path / "runtime"
    env = dict(os.environ, SWARMLAB_BACKEND="replay", JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_RUNTIME_DIR=str(runtime),
               IPYTHONDIR=str(tmp_path / "ipython"), MPLCONFIGDIR=str(tmp_path / "matplotlib"))
    env.pop("SWARMLAB_RECORD", None)
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "jupyter.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}", "--allow-root",
               f"--ServerApp.root_dir={lessons}", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.extension_manager=readonly"]
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=lessons,
                                  start_new_session=True)
    try:
        # A fresh venv's first JupyterLab start has taken over 30 s on a busy 2-core machine.
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if _get(f"{base}/api/status?token={token}") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer on {base} within 120 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, token, log_path
    finally:
        _stop_server(server, base, token, runtime)
        shutil.copy(log_path, _artifacts() / log_name)


def _stop_server(server: subprocess.Popen, base: str, token: str, runtime: Path) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure: its group, and any kernel of ours."""
    try:
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"),
                               timeout=5).close()
    except OSError:
        pass
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)
    # A kernel runs in a session of its own; its command line names its connection file in our runtime folder.
    for pid in _pids_mentioning(str(runtime)):
        os.kill(pid, signal.SIGKILL)


def _pids_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


def _artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _launch_chromium(playwright, profile: Path):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (make test installs it as root)")
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000}, timeout=30_000)




def test_a_lesson_runs_in_jupyterlab_and_shows_its_table_picture_and_widget(jupyter_lab, tmp_path):
    from playwright.sync_api import sync_playwright  # never skipped: a missing package fails here

    base, token, log_path = jupyter_lab
    timer = Timer()
    outside: list[str] = []

    with sync_playwright() as playwright:
        browser = _launch_chromium(playwright, tmp_path / "chromium-profile")
        try:
            browser.set_default_timeout(20_000)
            browser.route("**/*", loopback_only(outside))
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.goto(f"{base}/lab/tree/{LESSON}?token={token}", timeout=30_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=30_000)
            timer.mark("notebook open")
            page.wait_for_function(KERNEL_IDLE, timeout=30_000)
            timer.mark("kernel ready")

            page.click(".lm-MenuBar-item:has-text('Run')")
            page.click(".lm-Menu-content .lm-Menu-item:has-text('Run All Cells')")
            cells = page.locator(".jp-Notebook .jp-CodeCell").count()
            page.wait_for_function(ALL_RAN_OR_ERROR, arg=cells, timeout=45_000)
            page.wait_for_function("() => document.querySelector("
                                   "'.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator')"
                                   ".dataset.status === 'idle'", timeout=15_000)
            timer.mark("all cells ran")

            notebook = page.locator(".jp-Notebook")
            text = notebook.inner_text()
            assert "Traceback" not in text, _around(text, "Traceback")
            assert "Error displaying widget" not in page.content()
            prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
            assert all(p.strip().startswith("[") and p.strip()[1:-2].isdigit() for p in prompts), prompts
            assert "swarmlab backend: replay" in text

            # a table: a rendered DataFrame
            tables = page.locator(".jp-OutputArea-output table.dataframe")
            assert tables.count() >= 3
            assert "docker_gwbridge" in " ".join(page.locator(".jp-OutputArea-output table").all_inner_texts())
            # a picture: the topology, a matplotlib PNG
            picture = page.locator(".jp-OutputArea-output img[src^='data:image/png']")
            assert picture.count() == 1
            assert picture.first.evaluate("img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 100")
            picture.first.scroll_into_view_if_needed()
            page.screenshot(path=str(_artifacts() / "browser-04-topology.png"))
            # a widget: the node console, rendered by the ipywidgets manager
            console = page.locator(".jp-OutputArea-output .widget-vbox").filter(
                has=page.locator(".widget-dropdown label:text-is('recorded')")).first
            assert console.is_visible()
            assert console.locator("button:has-text('Run')").is_enabled()
            timer.mark("checked")

            # ...and it works: pick a recorded command, Run, a table comes back from the kernel
            console.locator(".widget-dropdown:has(label:text-is('node')) select").select_option("node2")
            console.locator(".widget-dropdown:has(label:text-is('recorded')) select").select_option(
                label="docker network ls")
            command_box = console.locator(".widget-text input")
            page.wait_for_function("(box) => box.value === 'docker network ls'", arg=command_box.element_handle(),
                                   timeout=10_000)
            console.locator("button:has-text('Run')").click()
            answer = console.locator("table.swarmlab-table")
            answer.wait_for(timeout=15_000)
            # the table is the recorded output of node2's `docker network ls`, row for row
            recorded = _recorded_stdout("04", "node2", "docker network ls")
            shown = [line.split("\t") for line in answer.inner_text().splitlines()[1:]]
            assert [row[1] for row in shown] == [line.split()[1] for line in recorded.splitlines()[1:]]
            assert "docker_gwbridge" not in answer.inner_text()
            assert "[node2]$ docker network ls" in console.inner_text()
            timer.mark("console answered")
            console.scroll_into_view_if_needed()
            page.screenshot(path=str(_artifacts() / "browser-04-console.png"))
            assert "Error displaying widget" not in page.content()
        finally:
            browser.close()
    timer.mark("browser closed")
    (_artifacts() / "browser-timings.json").write_text(json.dumps(timer.phases, indent=1) + "\n")
    print(f"browser test phases (s since start): {timer.phases}")
    assert outside == [], f"requests beyond loopback: {outside}"
    assert timer.phases["browser closed"] < BUDGET, timer.phases


def _around(text: str, word: str, width: int = 1500) -> str:
    i = text.find(word)
    return text[max(0, i - 200): i + width]


def _recorded_stdout(lesson: str, node: str, command: str) -> str:
    """What the bundled recording of a lesson holds for a command on a node (its first run)."""
    data = json.loads((ROOT / "swarmlab" / "data" / "recordings" / f"{lesson}.json").read_text())
    runs = [r for r in data["runs"] if r.get("node") == node and r.get("command") == command]
    assert runs, f"recording {lesson} has no `{command}` on {node}"
    return runs[0]["stdout"]


# Tofu: a character no font has is drawn as the same empty box (.notdef) as any other such character.
# Each CJK character shown is drawn on a canvas in the font its element uses and compared, pixel for
# pixel, with a character no font has (a private-use code point): equal means a box, not a glyph.
TOFU = r"""([selector, sample, characters]) => {
  const wanted = new RegExp(characters);
  const seen = new Map();
  for (const el of document.querySelectorAll(selector)) {
    const style = getComputedStyle(el);
    const font = `${style.fontSize} ${style.fontFamily}`;
    for (const ch of el.textContent) {
      if (wanted.test(ch) && !seen.has(ch) && seen.size < sample) seen.set(ch, font);
    }
  }
  const draw = (ch, font) => {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    const ctx = canvas.getContext('2d');
    ctx.font = font.replace(/^[\d.]+px/, '40px');
    ctx.fillStyle = '#000';
    ctx.fillText(ch, 4, 48);
    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(',');
  };
  const boxes = [], drawn = [];
  for (const [ch, font] of seen) {
    (draw(ch, font) === draw('\ue000', font) ? boxes : drawn).push(ch);
  }
  return {boxes, drawn: drawn.length};
}"""
HAN = r"[\u4e00-\u9fff]"


def test_a_zh_lesson_in_chinese_jupyterlab_draws_its_text_table_and_plot_with_cjk_glyphs(jupyter_lab_zh, tmp_path):
    from playwright.sync_api import sync_playwright  # never skipped: a missing package fails here

    base, token, log_path = jupyter_lab_zh
    outside: list[str] = []

    with sync_playwright() as playwright:
        browser = _launch_chromium(playwright, tmp_path / "chromium-profile")
        try:
            browser.set_default_timeout(20_000)
            browser.route("**/*", loopback_only(outside))
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.goto(f"{base}/lab/tree/{ZH_LESSON}?token={token}", timeout=30_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=30_000)
            page.wait_for_function(KERNEL_IDLE, timeout=30_000)
            menus = page.locator(".lm-MenuBar-item").all_inner_texts()
            assert "文件" in menus and "运行" in menus, menus  # JupyterLab itself speaks Chinese

            page.click(".lm-MenuBar-item:has-text('运行')")
            page.click(".lm-Menu-content .lm-Menu-item:has-text('运行所有单元格')")
            cells = page.locator(".jp-Notebook .jp-CodeCell").count()
            page.wait_for_function(ALL_RAN_OR_ERROR, arg=cells, timeout=60_000)
            page.wait_for_function("() => document.querySelector("
                                   "'.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator')"
                                   ".dataset.status === 'idle'", timeout=15_000)

            text = page.locator(".jp-Notebook").inner_text()
            assert "Traceback" not in text, _around(text, "Traceback")
            assert "第 3 课：部署服务，眼看它失败" in text  # the lesson's own text
            assert "✓ 最终两个副本都运行在 node1 上" in text  # a claim, said in Chinese by the kernel
            assert "已核对 5 条陈述，全部属实" in text
            assert "Glyph" not in text and "no CJK font" not in text  # matplotlib drew every label
            tables = page.locator(".jp-OutputArea-output table.dataframe")
            assert tables.count() >= 2
            picture = page.locator(".jp-OutputArea-output img[src^='data:image/png']")
            assert picture.count() == 1
            assert picture.first.evaluate("img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 100")

            # the detector sees a box where there is one: a private-use character, in no font
            page.evaluate("() => { const d = document.createElement('div'); d.className = 'swarmlab-tofu-control';"
                          " d.textContent = '\\ue001'; document.body.appendChild(d); }")
            control = page.evaluate(TOFU, [".swarmlab-tofu-control", 5, r"[\ue000-\uf8ff]"])
            assert control == {"boxes": ["\ue001"], "drawn": 0}, control
            prose = page.evaluate(TOFU, [".jp-RenderedMarkdown, .jp-OutputArea-output pre", 60, HAN])
            assert prose["boxes"] == [] and prose["drawn"] >= 40, prose
            chrome = page.evaluate(TOFU, [".lm-MenuBar-item, .jp-Toolbar, .jp-DirListing", 20, HAN])
            assert chrome["boxes"] == [] and chrome["drawn"] >= 2, chrome
            # the service monitor speaks Chinese too (the widgets catalog): its button, as the lesson names it
            buttons = [b.strip() for b in page.locator(".jp-OutputArea-output button").all_inner_texts()]
            assert "刷新" in buttons, buttons
            monitor_text = page.locator(".jp-OutputArea-output .widget-vbox").first.inner_text()
            assert "自动刷新" in monitor_text and "正在运行的副本" in monitor_text, monitor_text
            widgets_drawn = page.evaluate(TOFU, [".jp-OutputArea-output .widget-button, "
                                                 ".jp-OutputArea-output .widget-html", 30, HAN])
            assert widgets_drawn["boxes"] == [] and widgets_drawn["drawn"] >= 4, widgets_drawn
            page.locator(".jp-OutputArea-output button:text-is('刷新')").first.scroll_into_view_if_needed()
            page.screenshot(path=str(_artifacts() / "browser-zh-03-monitor.png"))
            tables.first.scroll_into_view_if_needed()
            page.screenshot(path=str(_artifacts() / "browser-zh-03-table.png"))
            picture.first.scroll_into_view_if_needed()
            page.screenshot(path=str(_artifacts() / "browser-zh-03-plot.png"))
        finally:
            browser.close()
    assert outside == [], f"requests beyond loopback: {outside}"
