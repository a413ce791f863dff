"""HTML handouts carry everything they show: widget state, the widget manager, no CDN."""
from __future__ import annotations

import re

import ipywidgets
import nbformat
from ipywidgets.embed import embed_data

from swarmlab.headless import WIDGET_MANAGER_JS, handout_html, run_lesson


def _notebook_with_a_widget():
    button = ipywidgets.Button(description="Run")
    data = embed_data(views=[button])
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": data["manager_state"]}
    cell = nbformat.v4.new_code_cell("button")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": data["view_specs"][0], "text/plain": "Button(...)"})]
    nb.cells = [cell]
    return nb, button.model_id


def test_a_handout_inlines_the_widget_state_and_manager_and_loads_nothing():
    nb, model_id = _notebook_with_a_widget()
    html = handout_html(nb)
    assert 'type="application/vnd.jupyter.widget-state+json"' in html and model_id in html
    assert WIDGET_MANAGER_JS.read_text()[:2000] in html
    assert re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?!data:)[^"]+"', html) == []
    for cdn in ("cdn.jsdelivr.net/npm/@jupyter-widgets", "require.min.js", "mathjax"):
        assert cdn not in html.replace(WIDGET_MANAGER_JS.read_text(), "")


def test_the_bundled_widget_manager_asks_for_no_file_beside_it():
    script = WIDGET_MANAGER_JS.read_text()
    assert not re.search(r'n\.p\+"[0-9a-f]{20}\.', script)
    assert "Automatic publicPath is not supported" not in script
    assert "sourceMappingURL" not in script[-200:]


def test_a_live_lessons_executed_notebook_and_handout_carry_no_real_join_token(tmp_path):
    # A live lesson 01 prints the manager's real tokens; the files `lessons run` writes are
    # shared (0644, handed out): each token is masked there as recordings mask them.
    token = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"
    lesson = tmp_path / "01-tokens.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"print('docker swarm join --token {token} 172.16.155.131:2377')")]
    nbformat.write(nb, lesson)
    row = run_lesson(lesson, "replay", tmp_path / "out", timeout=60)
    written = [tmp_path / "out" / "01-tokens.ipynb", tmp_path / "out" / "01-tokens.html"]
    assert row["status"] == "ok"
    assert [token in path.read_text() for path in written] == [False, False]
    assert ["join --token SWMTKN-1-masked-1 172.16.155.131:2377" in path.read_text() for path in written] == [True, True]
