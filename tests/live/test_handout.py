"""An HTML handout works offline: Debian's chromium, no network, the lesson's widget renders.

Lesson 04 runs headless from its recording (as `swarmlab lessons run` does) and its
handout is opened from a file:// URL. Every request the page makes is recorded and any
request for anything but the handout's own file is aborted and fails the test; the
node console widget must be drawn by the widget manager (its dropdowns, text box and
button as real DOM elements), not left as a text fallback or "Error displaying widget".
A screenshot goes to build/test-artifacts/handout-04-console.png.
"""
from __future__ import annotations

import json
import time

from swarmlab.headless import NOTEBOOKS, run_lesson
from .test_browser import _artifacts, _launch_chromium

LESSON = NOTEBOOKS / "04-investigate.ipynb"


def test_a_handout_renders_its_widget_offline_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright  # never skipped: a missing package fails here

    started = time.monotonic()
    row = run_lesson(LESSON, "replay", tmp_path)
    assert row["status"] == "ok", row
    handout = tmp_path / "04-investigate.html"
    html = handout.read_text()
    assert "application/vnd.jupyter.widget-state+json" in html
    assert "cdn.jsdelivr.net/npm/@jupyter-widgets" not in html.split("<script>", 1)[0]  # no loader in the head
    built = time.monotonic() - started

    own_url = handout.as_uri()
    requests: list[str] = []
    outside: list[str] = []
    console_errors: list[str] = []

    def own_file_only(route):
        url = route.request.url
        if url == own_url or url.startswith("data:"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = _launch_chromium(playwright, tmp_path / "chromium-profile")
        try:
            browser.route("**/*", own_file_only)
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
            page.goto(own_url, wait_until="load", timeout=30_000)
            console = page.locator(".jupyter-widgets .widget-subarea .widget-vbox").filter(
                has=page.locator(".widget-dropdown label:text-is('recorded')")).first
            console.wait_for(timeout=20_000)
            node_choice = console.locator(".widget-dropdown:has(label:text-is('node')) select")
            assert node_choice.locator("option").all_inner_texts() == ["node1", "node2"]
            assert console.locator(".widget-text input").count() == 1
            assert console.locator("button:has-text('Run')").is_visible()
            assert "Error displaying widget" not in page.locator("body").inner_text()  # the script itself holds the words
            console.scroll_into_view_if_needed()
            page.screenshot(path=str(_artifacts() / "handout-04-console.png"))
        finally:
            browser.close()
    seconds = {"lesson run and handout": round(built, 1), "total": round(time.monotonic() - started, 1)}
    (_artifacts() / "handout-timings.json").write_text(json.dumps(seconds) + "\n")
    assert outside == [], f"requests beyond the handout's own file: {outside}"
    assert set(requests) <= {own_url} | {r for r in requests if r.startswith("data:")}, requests
    assert console_errors == [], console_errors
