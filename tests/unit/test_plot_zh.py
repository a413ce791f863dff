"""swarmlab.plot in Chinese: the labels from the plot catalog, drawn with a CJK font (no glyph
missing, which matplotlib would draw as an empty box), and English with a note where no such font is."""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from swarmlab import plot  # noqa: E402

TIMELINE = pd.DataFrame({
    "t": [0, 1, 2, 0, 1, 2], "slot": [1, 1, 1, 2, 2, 2],
    "node": ["node1"] * 3 + ["node2", "node2", "node1"],
    "state": ["Running"] * 3 + ["Failed", "Failed", "Running"],
    "error": ["", "", "", "starting container failed: er", "starting container failed: er", ""]})


def labels(fig) -> list[str]:
    ax = fig.axes[0]
    return ([ax.get_title(), ax.get_xlabel()] + [t.get_text() for t in ax.get_yticklabels()]
            + [t.get_text() for t in ax.get_legend().get_texts()] + [t.get_text() for t in fig.texts])


def test_a_zh_plot_says_its_labels_in_chinese_and_draws_every_glyph(monkeypatch, tmp_path):
    monkeypatch.setenv("SWARMLAB_LANG", "zh")
    assert plot.cjk_font(), f"no CJK font: install {plot.CJK_PACKAGE} (make install does)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)": a box instead of a character
        fig = plot.placement_timeline(TIMELINE)
        fig.savefig(tmp_path / "timeline.png")
    said = labels(fig)
    assert said[:4] == ["每个副本在哪里运行", "秒", "副本 1", "副本 2"]
    assert "最新任务失败" in said and "错误：starting container failed: er" in said  # Docker's words kept


def test_without_a_cjk_font_the_labels_stay_english_and_a_note_says_why(monkeypatch, capsys):
    monkeypatch.setenv("SWARMLAB_LANG", "zh")
    monkeypatch.setattr(plot, "cjk_font", lambda: None)
    plot._note_missing_font.cache_clear()
    fig = plot.placement_timeline(TIMELINE)
    assert labels(fig)[:2] == ["Where each replica ran", "seconds"]
    assert plot.MISSING_FONT_NOTE in capsys.readouterr().err


@pytest.mark.parametrize("lang", ["en", "C"])
def test_an_english_plot_is_unchanged(monkeypatch, lang):
    monkeypatch.setenv("SWARMLAB_LANG", lang)
    assert labels(plot.placement_timeline(TIMELINE))[:3] == ["Where each replica ran", "seconds", "replica 1"]
