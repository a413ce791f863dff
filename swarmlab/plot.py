"""Pictures of a swarm's plumbing, drawn from the views (matplotlib).

    >>> plot.topology(cluster, service="test")          # nodes, bridges, veths, overlays
    >>> before = views.snapshot(cluster, "test", label="before")
    >>> ...  # the fix
    >>> plot.topology_side_by_side(before, views.snapshot(cluster, "test", label="after"))
    >>> plot.placement_timeline(story.placement_timeline(cluster))

Every function returns a matplotlib Figure, made without pyplot: a notebook shows it
once, when it is the cell's value, and nothing piles up in pyplot. Parts carry a gid ("node:node1",
"bridge:node1:docker_gwbridge", "missing:node2:docker_gwbridge", "sandbox:node1:…",
"overlay:node1:uber-net", "vxlan:uber-net", "veth:node1:docker_gwbridge:vethca9d006",
"veth:node1:uber-net:veth0", "failed:node2:test.1"), so a test
or a lesson can find them again.

Labels are said in the lessons' language (swarmlab.i18n, the `plot` catalog). Chinese needs a CJK
font: Debian's fonts-noto-cjk (`make install` installs it), found among the system's fonts even when
matplotlib's font cache predates it, and put behind DejaVu Sans as its fallback. Without one the
labels stay English, and a note says why: Chinese drawn without the font would be empty boxes.
"""
from __future__ import annotations

import contextvars
import functools
import sys
import textwrap
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch

from . import views
from .cluster import Cluster
from .errors import UsageError
from .i18n import language, translate

__all__ = ["topology", "topology_side_by_side", "placement_timeline", "TIMELINE_COLUMNS"]

# --- layout, in data units: one column per node --------------------------------
NODE_WIDTH, NODE_GAP, NODE_HEIGHT = 12.0, 3.0, 10.0
BRIDGE_Y, SANDBOX_Y, OVERLAY_Y = 7.6, 4.6, 1.4  # centres of the three rows inside a node
BOX_HEIGHT = 1.5
INCHES_PER_UNIT = 0.3  # figure size follows the layout, so text keeps its size
COLOURS = {
    "node": "#f4f6f8", "bridge": "#cfe2ff", "container": "#d1e7dd", "ingress-sbox": "#fff3cd",
    "load-balancer": "#e2d9f3", "sandbox": "#e9ecef", "overlay": "#cff4fc", "failed": "#f8d7da",
    "missing": "#dc3545", "vxlan": "#0aa2c0", "veth": "#6c757d",
}
SANDBOX_ORDER = ["ingress-sbox", "load-balancer", "container", "sandbox"]
FAILED_STATES = ("Failed", "Rejected")


# --- the labels' language, and a font that has its glyphs -------------------------
LATIN_FONT = "DejaVu Sans"  # matplotlib's own: Latin, arrows, ✗ and ↕
CJK_PACKAGE = "fonts-noto-cjk"
MISSING_FONT_NOTE = (f"note: no CJK font found (Debian: apt-get install {CJK_PACKAGE}; `make install` installs it): "
                     "this plot keeps its English labels, since Chinese ones would be drawn as empty boxes")
_LANG = contextvars.ContextVar("swarmlab_plot_lang", default="en")


@functools.cache
def cjk_font() -> str | None:
    """A CJK font family matplotlib can draw with (Simplified Chinese first), else None. Fonts
    installed after matplotlib built its cache are added from the system's font folders."""
    def found():
        names = {f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name}
        return sorted(names, key=lambda n: ("SC" not in n, "Sans" not in n, n))
    if not found():
        for path in font_manager.findSystemFonts():
            if "CJK" in Path(path).name and "Sans" in Path(path).name:
                font_manager.fontManager.addfont(path)
    names = found()
    return names[0] if names else None


@functools.cache
def _note_missing_font() -> None:
    print(MISSING_FONT_NOTE, file=sys.stderr)  # once a session: every plot after it says the same


def labels_language() -> str:
    """The lessons' language, unless no font here has its glyphs (then English, with a note)."""
    lang = language()
    if lang != "en" and cjk_font() is None:
        _note_missing_font()
        return "en"
    return lang


def _say(text: str) -> str:
    """A label in the language of the plot being drawn (the `plot` catalog)."""
    return translate(text, "plot", _LANG.get())


def _in_the_lessons_language(draw):
    """Draw with labels in labels_language(), and the CJK font behind the Latin one when it is used."""
    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        lang = labels_language()
        token = _LANG.set(lang)
        fonts = [LATIN_FONT, cjk_font()] if lang != "en" else [LATIN_FONT]
        try:
            with matplotlib.rc_context({"font.family": fonts}):  # each text keeps the list: the fallback
                return draw(*args, **kwargs)
        finally:
            _LANG.reset(token)
    return drawn


# --- topology ----------------------------------------------------------------
@_in_the_lessons_language
def topology(source: Cluster | views.Snapshot, service: str = "", ax=None) -> Figure:
    """Nodes, their bridges, each veth to its container or sandbox, overlays and VXLAN.

    `source` is a Cluster (looked at now) or a views.Snapshot (taken earlier). With
    `service`, that service's failed tasks are drawn on their nodes. What a node
    lacks is drawn as missing: a dashed red "docker_gwbridge missing" box, and a
    dashed box for an overlay network that other nodes have and this one does not.
    """
    snap = source if isinstance(source, views.Snapshot) else views.snapshot(source, service=service)
    if ax is None:
        ax = Figure(figsize=_topology_size(snap)).subplots()
    _draw_topology(ax, snap)
    return ax.figure


@_in_the_lessons_language
def topology_side_by_side(before: views.Snapshot, after: views.Snapshot) -> Figure:
    """Two snapshots next to each other, e.g. before and after the fix."""
    width, height = _topology_size(before)
    fig = Figure(figsize=(2 * width, height))
    left, right = fig.subplots(1, 2)
    _draw_topology(left, before, title=before.label or _say("before"))
    _draw_topology(right, after, title=after.label or _say("after"))
    fig.subplots_adjust(left=0.01, right=0.99, wspace=0.04)
    return fig


def _topology_size(snap: views.Snapshot) -> tuple[float, float]:
    width = len(snap.nodes) * (NODE_WIDTH + NODE_GAP) * INCHES_PER_UNIT
    return max(width, 5.0), (NODE_HEIGHT + 3.5) * INCHES_PER_UNIT


def _draw_topology(ax, snap: views.Snapshot, title: str | None = None) -> None:
    overlays_anywhere = _instantiated_overlays(snap.bridges)
    anchors: dict[tuple[str, str], dict] = {}  # (node, overlay) -> box, for the VXLAN links
    for i, (node, address) in enumerate(snap.nodes.items()):
        x0 = i * (NODE_WIDTH + NODE_GAP)
        anchors.update(_draw_node(ax, snap, node, address, x0, overlays_anywhere))
    _draw_vxlan(ax, snap.bridges, anchors, overlays_anywhere)
    ax.set_xlim(-0.5, len(snap.nodes) * (NODE_WIDTH + NODE_GAP) - NODE_GAP + 0.5)
    ax.set_ylim(-1.8, NODE_HEIGHT + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title if title is not None else (snap.label or _say("swarm topology")))
    ax.figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.93)


def _draw_node(ax, snap, node, address, x0, overlays_anywhere) -> dict:
    here = snap.bridges[snap.bridges["node"] == node]
    failed = _failed_tasks(snap.tasks, node)
    _box(ax, x0, 0, NODE_WIDTH, NODE_HEIGHT, f"node:{node}", COLOURS["node"], edge="#495057", lw=1.5)
    ax.text(x0 + 0.3, NODE_HEIGHT - 0.45, f"{node}  {address}", fontsize=9, weight="bold", va="center")

    boxes = _draw_bridges(ax, snap, node, here, x0)
    boxes.update(_draw_sandboxes(ax, node, here, failed, x0))
    overlay_boxes = _draw_overlays(ax, node, here, x0, overlays_anywhere, broken=not failed.empty)
    boxes.update(overlay_boxes)
    _draw_veths(ax, node, here, boxes)
    return {(node, name): box for (kind, name), box in overlay_boxes.items()}


def _draw_bridges(ax, snap, node, here, x0) -> dict:
    """The node's own bridges (brctl show); docker_gwbridge drawn missing when absent."""
    names = list(dict.fromkeys(here.loc[here["namespace"] == views.NODE_NAMESPACE, "bridge"]))
    node_networks = set(snap.networks.loc[snap.networks["node"] == node, "network"])
    gw_missing = "docker_gwbridge" not in names and "docker_gwbridge" not in node_networks
    slots = names + (["docker_gwbridge"] if gw_missing else [])
    boxes = {}
    for (x, w), name in zip(_spread(x0, len(slots), max_width=4.6), slots):
        if name == "docker_gwbridge" and gw_missing:
            _box(ax, x, BRIDGE_Y - BOX_HEIGHT / 2, w, BOX_HEIGHT, f"missing:{node}:docker_gwbridge",
                 "none", edge=COLOURS["missing"], lw=2, style="--")
            ax.text(x + w / 2, BRIDGE_Y, "docker_gwbridge\n" + _say("missing"), ha="center", va="center",
                    fontsize=8, color=COLOURS["missing"], weight="bold")
            continue
        address = here.loc[here["bridge"] == name, "bridge_address"].iloc[0]
        boxes[("bridge", name)] = _box(ax, x, BRIDGE_Y - BOX_HEIGHT / 2, w, BOX_HEIGHT,
                                       f"bridge:{node}:{name}", COLOURS["bridge"])
        ax.text(x + w / 2, BRIDGE_Y, f"{name}\n{address}", ha="center", va="center", fontsize=7.5)
    return boxes


def _draw_sandboxes(ax, node, here, failed: pd.DataFrame, x0) -> dict:
    """Containers and dockerd's sandboxes at the other end of the veths, and failed tasks."""
    peers = here[here["peer_kind"].isin(SANDBOX_ORDER)][["peer_kind", "peer"]].drop_duplicates()
    peers = peers.sort_values("peer_kind", key=lambda k: k.map(SANDBOX_ORDER.index), kind="stable")
    failures = list(failed.groupby("name", sort=True))
    places = _spread(x0, len(peers) + len(failures), max_width=4.2)
    y = SANDBOX_Y - BOX_HEIGHT / 2
    boxes = {}
    for (x, w), (kind, peer) in zip(places, peers.itertuples(index=False)):
        boxes[("sandbox", peer)] = _box(ax, x, y, w, BOX_HEIGHT, f"sandbox:{node}:{peer}", COLOURS[kind])
        label = _short_container(peer) if kind == "container" else peer
        ax.text(x + w / 2, SANDBOX_Y, f"{label}\n({kind})", ha="center", va="center", fontsize=6.5)
    for (x, w), (name, tasks) in zip(places[len(peers):], failures):
        _box(ax, x, y, w, BOX_HEIGHT, f"failed:{node}:{name}", COLOURS["failed"], edge=COLOURS["missing"], lw=1.5)
        ax.text(x + w / 2, SANDBOX_Y, _say(f"{name} ✗ failed ×{len(tasks)}") + f"\n{_root_cause(tasks['error'].iloc[0], w)}",
                ha="center", va="center", fontsize=5.5, color="#842029")
    return boxes


def _draw_overlays(ax, node, here, x0, overlays_anywhere, broken: bool) -> dict:
    """The br0 of each overlay network on this node; those only other nodes have, dashed."""
    present = dict(zip(here.loc[here["namespace"] != views.NODE_NAMESPACE, "network"],
                       here.loc[here["namespace"] != views.NODE_NAMESPACE, "bridge_address"]))
    boxes = {}
    for (x, w), name in zip(_spread(x0, len(overlays_anywhere), max_width=4.6), overlays_anywhere):
        y = OVERLAY_Y - BOX_HEIGHT / 2
        if name in present:
            boxes[("overlay", name)] = _box(ax, x, y, w, BOX_HEIGHT, f"overlay:{node}:{name}", COLOURS["overlay"])
            ax.text(x + w / 2, OVERLAY_Y, f"{name}\nbr0 {present[name]}", ha="center", va="center", fontsize=7.5)
        else:
            # normal on a node without a task of it; a symptom where tasks fail
            colour = COLOURS["missing"] if broken else "#adb5bd"
            _box(ax, x, y, w, BOX_HEIGHT, f"missing:{node}:{name}", "none", edge=colour, lw=1.5, style="--")
            ax.text(x + w / 2, OVERLAY_Y, f"{name}\n" + _say("missing"), ha="center", va="center", fontsize=7.5,
                    color=colour)
    return boxes


def _draw_veths(ax, node, here, boxes) -> None:
    """One line per veth pair: bridge port on one end, the sandbox's interface on the other."""
    for row in here[here["peer_kind"].isin(SANDBOX_ORDER)].itertuples():
        end = boxes.get(("sandbox", row.peer))
        if row.namespace == views.NODE_NAMESPACE:
            bridge = row.bridge
            start, start_y, end_y = boxes.get(("bridge", bridge)), BRIDGE_Y - BOX_HEIGHT / 2, SANDBOX_Y + BOX_HEIGHT / 2
        else:  # every overlay's bridge is called br0: name it by its network
            bridge = row.network
            start, start_y, end_y = boxes.get(("overlay", bridge)), OVERLAY_Y + BOX_HEIGHT / 2, SANDBOX_Y - BOX_HEIGHT / 2
        if start is None or end is None:
            continue
        xs = [_centre(start), _centre(end)]
        ax.add_line(Line2D(xs, [start_y, end_y], color=COLOURS["veth"], lw=1,
                           gid=f"veth:{node}:{bridge}:{row.interface}"))
        # the label sits nearer the sandbox, where the lines fan out and have room
        at = 0.62
        ax.text(xs[0] + at * (xs[1] - xs[0]), start_y + at * (end_y - start_y), f"{row.interface}\n↕ {row.peer_interface}",
                fontsize=5, ha="center", va="center", color="#495057",
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))


def _draw_vxlan(ax, bridges: pd.DataFrame, anchors: dict, overlays_anywhere: list[str]) -> None:
    """Each overlay's br0 boxes joined across nodes: the VXLAN tunnel between them."""
    for level, name in enumerate(overlays_anywhere):
        ends = [box for (node, overlay), box in anchors.items() if overlay == name]
        if len(ends) < 2:
            continue
        vxlan = bridges[(bridges["network"] == name) & (bridges["peer_kind"] == "vxlan")]
        vni = vxlan["peer"].iloc[0] if not vxlan.empty else ""
        y = -0.45 - 0.6 * level  # below the nodes, one lane per network
        xs = [_centre(box) for box in ends]
        for x in xs:
            ax.add_line(Line2D([x, x], [OVERLAY_Y - BOX_HEIGHT / 2, y], color=COLOURS["vxlan"], lw=1.5, ls=":"))
        ax.add_line(Line2D([min(xs), max(xs)], [y, y], color=COLOURS["vxlan"], lw=2.5, gid=f"vxlan:{name}"))
        ax.text(min(xs) + 0.3, y + 0.05, f"{name}: VXLAN {vni} udp/4789", fontsize=6.5, ha="left", va="bottom",
                color="#055160", bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.9))


def _instantiated_overlays(bridges: pd.DataFrame) -> list[str]:
    """Overlay networks that have a br0 on at least one node, ingress first."""
    names = set(bridges.loc[bridges["namespace"] != views.NODE_NAMESPACE, "network"]) - {""}
    return sorted(names, key=lambda n: (n != "ingress", n))


def _failed_tasks(tasks: pd.DataFrame, node: str) -> pd.DataFrame:
    if tasks.empty:
        return tasks
    return tasks[(tasks["node"] == node) & tasks["state"].isin(FAILED_STATES)]


# --- drawing helpers ---------------------------------------------------------
def _spread(x0: float, count: int, max_width: float, margin: float = 0.4, gap: float = 0.35):
    """(x, width) of `count` boxes side by side inside a node column, centred."""
    if count == 0:
        return []
    width = min(max_width, (NODE_WIDTH - 2 * margin - gap * (count - 1)) / count)
    total = count * width + gap * (count - 1)
    start = x0 + (NODE_WIDTH - total) / 2
    return [(start + k * (width + gap), width) for k in range(count)]


def _box(ax, x, y, w, h, gid, face, edge="#6c757d", lw=1.0, style="-"):
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.25",
                           fc=face, ec=edge, lw=lw, ls=style, gid=gid)
    ax.add_patch(patch)
    return patch


def _centre(patch) -> float:
    return patch.get_x() + patch.get_width() / 2


def _short_container(name: str) -> str:
    """test.2.31rohwk8fyd53bsvx79nwrh0a -> test.2.31rohw… (the task id is long)."""
    parts = name.split(".")
    if len(parts) >= 3 and len(parts[-1]) > 8:
        return ".".join(parts[:-1]) + "." + parts[-1][:5] + "…"
    return name


def _root_cause(error: str, width: float) -> str:
    """The last part of docker's "a: b: c" error chain, which names the cause, wrapped to fit."""
    cause = error.rsplit(": ", 1)[-1]
    lines = textwrap.wrap(cause, max(12, int(width * 6.5)), break_on_hyphens=False)
    return "\n".join(lines[:3]) + ("…" if len(lines) > 3 else "")


# --- placement over time -----------------------------------------------------
TIMELINE_COLUMNS = ["t", "slot", "node", "state", "error"]
_STARTING = {"New", "Pending", "Assigned", "Accepted", "Preparing", "Ready", "Starting"}


@_in_the_lessons_language
def placement_timeline(timeline: pd.DataFrame, ax=None) -> Figure:
    """Which node ran each replica over time, with every failed task marked.

    `timeline` has one row per task per sample, in `docker service ps` order
    (each replica's newest task first), with columns:

    - t: seconds since sampling began (float)
    - slot: the replica (1, 2, … or "1", "2", …)
    - node: where the task was placed ("" while pending)
    - state: the task's current state; the first word counts ("Running",
      "Preparing", "Failed 3 seconds ago" -> "Failed")
    - error: the task's error text ("" when none)
    - id (optional): the task id; without it, a failure is a change of the
      replica's newest task into a failed state

    Bars show each replica's newest task per sample: solid in its node's colour
    while running, hatched while starting; a red ✗ marks each failed task where it
    was first seen failing.
    """
    missing = [c for c in TIMELINE_COLUMNS if c not in timeline.columns]
    if missing:
        raise UsageError(f"placement_timeline needs columns {TIMELINE_COLUMNS}; missing {missing}")
    data = timeline.assign(state=timeline["state"].fillna("").astype(str).str.split().str[0].fillna(""),
                           slot=timeline["slot"].astype(str), node=timeline["node"].fillna(""))
    slots = sorted(data["slot"].unique(), key=_slot_order)
    nodes = sorted(n for n in data["node"].unique() if n)
    colour = {node: matplotlib.colormaps["tab10"](k % 10) for k, node in enumerate(nodes)}
    if ax is None:
        ax = Figure(figsize=(9, 1.6 + 0.7 * len(slots))).subplots()

    newest = data.groupby(["t", "slot"], sort=False).head(1).sort_values("t", kind="stable")
    step = _sample_step(newest["t"])
    for y, slot in enumerate(slots):
        for start, end, node, state in _segments(newest[newest["slot"] == slot], step):
            _draw_segment(ax, y, start, end, node, state, colour)
    failures = _failures(data)
    _mark_failures(ax, failures, slots)
    _finish_timeline(ax, slots, nodes, colour, failures)
    return ax.figure


def _segments(samples: pd.DataFrame, step: float):
    """Runs of equal (node, state) in one replica's samples, as (start, end, node, state)."""
    runs = []
    for t, node, state in zip(samples["t"], samples["node"], samples["state"]):
        if runs and runs[-1][2:] == [node, state]:
            runs[-1][1] = t + step
        else:
            if runs:
                runs[-1][1] = t  # the previous run lasted until this sample
            runs.append([t, t + step, node, state])
    return [tuple(r) for r in runs]


def _draw_segment(ax, y, start, end, node, state, colour) -> None:
    if state in FAILED_STATES:
        ax.barh(y, end - start, left=start, height=0.5, color=COLOURS["failed"], edgecolor=COLOURS["missing"])
    elif state == "Running":
        ax.barh(y, end - start, left=start, height=0.5, color=colour.get(node, "#adb5bd"), gid=f"running:{node}")
    elif state in _STARTING:
        ax.barh(y, end - start, left=start, height=0.5, color="none", hatch="///",
                edgecolor=colour.get(node, "#adb5bd"))


def _failures(data: pd.DataFrame) -> pd.DataFrame:
    """One row per failed task: where and when it was first seen failed."""
    bad = data[data["state"].isin(FAILED_STATES)]
    if "id" in data.columns:
        return bad.sort_values("t", kind="stable").drop_duplicates("id")
    # no ids: a failure is a replica's newest task turning failed
    newest = data.groupby(["t", "slot"], sort=False).head(1).sort_values("t", kind="stable")
    turned = newest["state"].isin(FAILED_STATES) & ~newest.groupby("slot")["state"].shift().isin(FAILED_STATES)
    return newest[turned]


def _mark_failures(ax, failures: pd.DataFrame, slots: list[str]) -> None:
    ys = [slots.index(s) for s in failures["slot"]]
    ax.plot(failures["t"], ys, "x", color=COLOURS["missing"], markersize=9, mew=2, gid="failures",
            linestyle="none")
    for t, y, node in zip(failures["t"], ys, failures["node"]):
        ax.annotate(node, (t, y), xytext=(0, 9), textcoords="offset points", fontsize=6.5,
                    ha="center", color=COLOURS["missing"])


def _finish_timeline(ax, slots, nodes, colour, failures) -> None:
    ax.set_yticks(range(len(slots)), [_say(f"replica {s}") for s in slots])
    ax.set_ylim(-0.6, len(slots) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel(_say("seconds"))
    ax.set_title(_say("Where each replica ran"))
    handles = [Patch(color=colour[n], label=n) for n in nodes]  # solid: running there
    handles.append(Patch(facecolor="none", hatch="///", edgecolor="#6c757d", label=_say("starting")))
    handles.append(Patch(facecolor=COLOURS["failed"], edgecolor=COLOURS["missing"], label=_say("newest task failed")))
    handles.append(Line2D([], [], marker="x", color=COLOURS["missing"], ls="none", mew=2,
                          label=_say(f"a task failed ({len(failures)})")))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    errors = failures["error"].replace("", pd.NA).dropna()
    if not errors.empty:
        common = errors.value_counts().index[0]
        ax.figure.text(0.01, 0.01, "\n".join(textwrap.wrap(_say(f"error: {common}"), 120, break_on_hyphens=False)[:3]),
                       fontsize=7, color="#842029", va="bottom")
        ax.figure.subplots_adjust(bottom=0.3)
    ax.figure.subplots_adjust(right=0.78)


def _slot_order(slot: str):
    tail = slot.rsplit(".", 1)[-1]
    return (0, int(tail), slot) if tail.isdigit() else (1, 0, slot)


def _sample_step(ts: pd.Series) -> float:
    """The usual time between two samples: how long the last sample's bar lasts."""
    gaps = pd.Series(sorted(ts.unique())).diff().dropna()
    return float(gaps.median()) if not gaps.empty else 1.0
