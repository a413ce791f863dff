"""ipywidgets panels for the lessons: drive a lab, type commands, watch a service.

    >>> widgets.lab_panel(lesson)          # node status; lab up/down; faults; doctor; fix
    >>> widgets.node_console(cluster)      # a command on a node: raw output, and a table
    >>> widgets.service_monitor(cluster)   # the tasks of `test`, states coloured, refreshed

Each returns a widget (a VBox) whose actions are plain methods, e.g.
`panel.run_doctor()`, `console.run("docker network ls")`, `monitor.refresh()`;
the buttons only call them, so tests drive the widgets without a browser.

On a replay the widgets do at construction exactly what they do live (the
recording holds those runs, in that order), and afterwards they only LOOK at
the recording: a command answers with what the recorded session printed as of
the lesson's current moment (`ReplayTransport.as_of_now`), without advancing the
replay, so clicking around never steals a later cell's answer. Controls that
would change something (lab up/down, faults, the fix) are disabled, and say why.
"""
from __future__ import annotations

import html
import time
from contextlib import contextmanager
from typing import Callable

import ipywidgets as W
import pandas as pd

from . import fix as fix_module
from .doctor import doctor as run_doctor_on
from . import faults, parse, swarm
from .doctor.gathering import node_script
from .cluster import Cluster, Node
from .errors import RecordingError, SwarmlabError
from .i18n import joint, translate
from .lessons import REPLAY, Lesson
from .result import Result
from .transport.replay import AsOfNowTransport, recorded_end

__all__ = [
    "lab_panel", "node_console", "service_monitor",
    "LabPanel", "NodeConsole", "ServiceMonitor",
    "REPLAY_REASON", "STATUS_COMMAND", "STATE_COLOURS",
    "is_replay", "style_tasks", "style_findings",
]

REPLAY_REASON = "replay of a recording: nothing runs; run live as root to use these"
# One command per node for the status table: Docker's version, swarm state, manager or not.
STATUS_COMMAND = "docker info --format '{{.ServerVersion}} {{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'"
STATE_COLOURS = {
    "Running": "background-color: #d1e7dd; color: #0f5132",
    "Failed": "background-color: #f8d7da; color: #842029; font-weight: bold",
    "Rejected": "background-color: #f8d7da; color: #842029; font-weight: bold",
    "Shutdown": "color: #6c757d", "Complete": "color: #6c757d", "Orphaned": "color: #6c757d",
    "Remove": "color: #6c757d",
}
PENDING_COLOUR = "background-color: #fff3cd; color: #664d03"  # New, Pending, Assigned, Preparing, Starting...
SEVERITY_COLOURS = {
    "error": "background-color: #f8d7da; color: #842029; font-weight: bold",
    "warning": "background-color: #fff3cd; color: #664d03",
    "info": "color: #055160",
}
TABLE_ROWS = 60  # longer tables are cut (the DataFrame itself stays whole on the widget)
# The status table's column headers as shown (the DataFrame keeps the English names code reads).
STATUS_HEADERS = ("node", "address", "role", "docker", "swarm")
# The module's constants shown through _say, for the catalog's extractor (swarmlab/i18n/extract.py).
WIDGET_TABLES = ("REPLAY_REASON", "STATUS_HEADERS", "PICK", "SEVERITIES_SHOWN")
SEVERITIES_SHOWN = ("error", "warning", "info")  # the doctor summary's words (doctor.findings.SEVERITIES)


def _say(text: str) -> str:
    """A label, heading or status line in the lessons' language (the `widgets` catalog)."""
    return translate(text, "widgets")


# --- replay: look, do not advance ------------------------------------------------
def is_replay(cluster: Cluster) -> bool:
    """True when every node of `cluster` answers from a recording."""
    return all(n.transport.replays for n in cluster)


def _looking_cluster(cluster: Cluster) -> Cluster:
    """The same replayed cluster, answering as of now (for clicks after construction)."""
    return cluster.with_transports(lambda node: AsOfNowTransport(node.transport))


# --- tables -------------------------------------------------------------------------
# Compact tables inside HTML widgets (whose own line height is a control's).
TABLE_CSS = ("<style>.swarmlab-w table {border-collapse: collapse; font-size: 12px; line-height: 1.35; margin: 2px 0}"
             ".swarmlab-w th, .swarmlab-w td {padding: 2px 8px; text-align: left; vertical-align: top;"
             " border-bottom: 1px solid #dee2e6}</style>")


def _wrap(body: str) -> str:
    return f"{TABLE_CSS}<div class='swarmlab-w'>{body}</div>"


def _table_html(frame: pd.DataFrame, caption: str = "") -> str:
    shown = frame.head(TABLE_ROWS)
    more = (f"<div><i>{html.escape(_say(f'first {TABLE_ROWS} of {len(frame)} rows'))}</i></div>"
            if len(frame) > TABLE_ROWS else "")
    cap = f"<div><b>{html.escape(caption)}</b></div>" if caption else ""
    return _wrap(cap + shown.to_html(index=False, border=0, classes="swarmlab-table", na_rep="") + more)


def _pre(text: str) -> str:
    return ("<pre style='margin: 2px 0; max-height: 24em; overflow: auto; background: #f8f9fa; "
            f"padding: 4px'>{html.escape(text)}</pre>")


def _message(text: str, kind: str = "info") -> str:
    colour = {"error": "#842029", "ok": "#0f5132", "info": "#495057", "busy": "#084298"}[kind]
    return f"<span style='color: {colour}'>{html.escape(text)}</span>"


def style_tasks(table: pd.DataFrame):
    """A swarm.tasks table as a pandas Styler: state coloured (Running green, Failed red...)."""
    columns = [c for c in ("slot", "node", "desired state", "state", "current state", "error") if c in table]

    def colour(state: str) -> str:
        return STATE_COLOURS.get(state, PENDING_COLOUR if state else "")
    styler = table[columns].style.map(colour, subset=["state"]).hide(axis="index")
    return styler.format(escape="html").set_table_attributes("class='swarmlab-tasks'")


def style_findings(findings: pd.DataFrame):
    """Doctor findings as a pandas Styler: severity coloured, evidence and fix kept as typed."""
    columns = [c for c in ("severity", "node", "check", "cause", "evidence", "fix") if c in findings]
    styler = findings[columns].style.map(lambda s: SEVERITY_COLOURS.get(s, ""), subset=["severity"])
    styler = styler.set_properties(subset=[c for c in ("evidence", "fix") if c in columns],
                                   **{"white-space": "pre-wrap", "font-family": "monospace", "font-size": "90%"})
    return styler.hide(axis="index").format(escape="html").set_table_attributes("class='swarmlab-findings'")


def _button(description: str, on_click, style: str = "", tooltip: str = "", icon: str = "") -> W.Button:
    button = W.Button(description=description, button_style=style, tooltip=tooltip or description, icon=icon,
                      layout=W.Layout(width="auto"))
    button.on_click(lambda _: on_click())
    return button


class _Activity:
    """A label and a progress bar, and the rule that one action runs at a time."""

    def __init__(self):
        self.label = W.HTML()
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="14em", visibility="hidden"))
        self.error: BaseException | None = None
        self.busy = False

    @contextmanager
    def running(self, what: str, steps: int = 1, on_end: Callable[[], None] | None = None):
        """Show `what` while the block runs; yields step(text) to advance the bar.

        An exception in the block is shown in the label and kept in `.error`,
        never raised: a click handler's exception would only reach the log.
        """
        self.busy, self.error = True, None
        self.progress.max, self.progress.value, self.progress.bar_style = max(1, steps), 0, "info"
        self.progress.layout.visibility = "visible"
        self.label.value = _message(_say(f"{what}…"), "busy")
        started = time.monotonic()

        def step(text: str = "") -> None:
            self.progress.value = min(self.progress.max, self.progress.value + 1)
            if text:
                self.label.value = _message(f"{what}{joint(': ')}{text}…", "busy")
        try:
            yield step
        except Exception as exc:  # shown, kept; see the docstring
            self.error = exc
            self.progress.bar_style = "danger"
            self.label.value = _message(_say(f"{what} failed: {exc}"), "error")
        else:
            self.progress.value, self.progress.bar_style = self.progress.max, "success"
            self.label.value = _message(_say(f"{what}: done in {time.monotonic() - started:.1f} s"), "ok")
        finally:
            self.busy = False
            if on_end:
                on_end()


# --- the lab panel ------------------------------------------------------------------
class LabPanel(W.VBox):
    """Node status, lab up/down, faults, the doctor and the fix, for one lesson or cluster.

    Methods (what the buttons call): refresh_status(), up(), down(),
    inject(fault, node), undo(fault, node), run_doctor(), apply_fix(node).
    """

    def __init__(self, lesson_or_cluster):
        if isinstance(lesson_or_cluster, Lesson):
            cluster, lab = lesson_or_cluster.cluster, lesson_or_cluster.lab
            replay = lesson_or_cluster.backend == REPLAY or is_replay(cluster)
        elif isinstance(lesson_or_cluster, Cluster):
            cluster, lab = lesson_or_cluster, lesson_or_cluster.lab
            replay = is_replay(cluster)
        else:
            raise SwarmlabError(f"lab_panel() takes a lesson (open_lesson) or a Cluster, "
                                f"not {type(lesson_or_cluster).__name__}")
        self.cluster, self.lab, self.replay = cluster, lab, replay
        self.status: pd.DataFrame | None = None
        self.findings: pd.DataFrame | None = None
        self.last_report = None
        self.activity = _Activity()

        names = list(cluster.nodes)
        self.status_html = W.HTML()
        self.refresh_button = _button(_say("Refresh status"), self.refresh_status, icon="refresh")
        self.swarm_box = W.Checkbox(value=True, description=_say("form the swarm"), indent=False,
                                    layout=W.Layout(width="auto"))
        self.up_button = _button(_say("Lab up"), self.up, "success", icon="play")
        self.down_button = _button(_say("Lab down"), self.down, "danger", icon="stop")
        self.fault_menu = W.Dropdown(options=list(faults.FAULTS), description=_say("fault"),
                                     style={"description_width": "initial"}, layout=W.Layout(width="14em"))
        self.node_menu = W.Dropdown(options=names, value=names[-1], description=_say("node"),
                                    style={"description_width": "initial"}, layout=W.Layout(width="10em"))
        self.rejoin_box = W.Checkbox(value=True, description=_say("rejoin if the fault acts at join"), indent=False,
                                     layout=W.Layout(width="auto"))
        self.inject_button = _button(_say("Inject"), self.inject, "warning", icon="bolt")
        self.undo_button = _button(_say("Undo"), self.undo, icon="undo")
        self.doctor_button = _button(_say("Run the doctor"), self.run_doctor, "info", icon="stethoscope")
        self.fix_button = _button(_say("Fix docker_gwbridge"), self.apply_fix, "primary", icon="wrench",
                                  tooltip=_say("fix_gwbridge on the chosen node, like the manager's"))
        self.findings_html = W.HTML()
        self.log_html = W.HTML()
        self.reason = W.HTML()
        self.fault_help = W.HTML()
        self.fault_menu.observe(lambda change: self._describe_fault(), "value")
        self._describe_fault()

        rows = [
            W.HTML(f"<b>{html.escape(_say('swarmlab lab panel'))}</b> — {html.escape(cluster.source or 'cluster')}"),
            self.status_html,
            W.HBox([self.refresh_button, self.up_button, self.swarm_box, self.down_button]),
            W.HBox([self.fault_menu, self.node_menu, self.rejoin_box, self.inject_button, self.undo_button]),
            self.fault_help,
            W.HBox([self.doctor_button, self.fix_button]),
            W.HBox([self.activity.progress, self.activity.label]),
            self.reason,
            self.findings_html,
            self.log_html,
        ]
        super().__init__(children=rows)
        self._doctor_recorded = self._doctor_in_recording() if replay else True
        # Construction runs what it runs live too: a replay holds these runs in this order.
        self._show_status(self._status_rows(self.cluster))
        self._apply_state()

    def __repr__(self):  # what a frontend without widgets shows
        status = self.status.to_string(index=False) if self.status is not None else ""
        mode = "replay" if self.replay else f"lab {self.lab.name}" if self.lab is not None else "no lab"
        return f"<LabPanel {self.cluster.source} ({mode})>\n{status}"

    # --- state of the controls -----------------------------------------------
    @property
    def replay_reason(self) -> str:
        """Why a replay disables what would change a lab, as the panel says it (in the lessons' language)."""
        return _say(REPLAY_REASON)

    @property
    def _live_buttons(self) -> list[W.Button]:
        return [self.inject_button, self.undo_button, self.fix_button]

    def lab_is_up(self) -> bool:
        return self.lab is not None and self.lab.is_up()

    def _apply_state(self) -> None:
        reasons = []
        busy = self.activity.busy
        if self.replay:
            for b in [self.up_button, self.down_button, *self._live_buttons]:
                b.disabled, b.tooltip = True, _say(REPLAY_REASON)
            self.doctor_button.disabled = busy or not self._doctor_recorded
            reasons.append(_say(REPLAY_REASON))
            if not self._doctor_recorded:
                self.doctor_button.tooltip = _say("this recording holds no doctor run")
                reasons.append(_say("the doctor answers in a replay only where the recorded lesson ran it"))
        else:
            up = self.lab_is_up() if self.lab is not None else True
            if self.lab is None:
                for b in (self.up_button, self.down_button):
                    b.disabled, b.tooltip = True, _say("no local lab behind this cluster")
                reasons.append(_say(f"no local lab behind {self.cluster.source or 'this cluster'}: "
                                    "bring its hosts up and down yourself"))
            else:
                self.up_button.disabled, self.down_button.disabled = busy or up, busy or not up
                self.up_button.tooltip, self.down_button.tooltip = _say("bring the lab up"), _say("take the lab down")
            for b in [*self._live_buttons, self.doctor_button]:
                b.disabled = busy or not up
            if not up:
                reasons.append(_say(f"lab {self.lab.name} is down: bring it up first"))
        self.refresh_button.disabled = busy
        self.swarm_box.disabled = self.up_button.disabled
        self.fault_menu.disabled = self.rejoin_box.disabled = self.inject_button.disabled
        self.reason.value = "".join(f"<div>{_message(r)}</div>" for r in reasons)

    def _doctor_in_recording(self) -> bool:
        try:
            for node in self.cluster:
                node.transport.recorded(node_script(self.cluster, node))
        except SwarmlabError:
            return False
        return True

    def _looking(self) -> Cluster:
        """The cluster to use for a click: the live one, or (replay) one that only looks."""
        return _looking_cluster(self.cluster) if self.replay else self.cluster

    @contextmanager
    def _action(self, what: str, steps: int = 1):
        def end():
            self._apply_state()
        with self.activity.running(what, steps, on_end=end) as step:
            self._apply_state()
            yield step

    @property
    def error(self) -> BaseException | None:
        """The exception of the last action, or None when it succeeded."""
        return self.activity.error

    # --- status ------------------------------------------------------------------
    def _status_rows(self, cluster: Cluster) -> pd.DataFrame:
        if self.lab is not None and not self.lab_is_up():
            rows = [{"node": n.name, "address": n.address, "role": n.role, "docker": "-",
                     "swarm": _say(f"lab {self.lab.name} is down")} for n in cluster]
            return pd.DataFrame(rows)
        rows = []
        for node, result in cluster.run_all(STATUS_COMMAND, timeout=20, return_exceptions=True).items():
            rows.append(_status_row(cluster.node(node), result))
        return pd.DataFrame(rows)

    def _show_status(self, table: pd.DataFrame) -> None:
        self.status = table
        shown = table.rename(columns={c: _say(c) for c in STATUS_HEADERS})
        self.status_html.value = _table_html(shown, _say("nodes"))

    def refresh_status(self) -> pd.DataFrame | None:
        with self._action(_say("status"), 1):
            self._show_status(self._status_rows(self._looking()))
        return self.status

    # --- the lab --------------------------------------------------------------------
    def up(self, swarm: bool | None = None) -> None:
        """Bring the lab up (and form the swarm, when the box is ticked)."""
        swarm = self.swarm_box.value if swarm is None else swarm
        with self._action(_say("bringing the lab up"), 5 if swarm else 4) as step:
            self._require_lab("bring the lab up")
            self.lab.up(progress=lambda phase, seconds: step(_say(f"{phase} at {seconds:.1f} s")))
            if swarm:
                self.lab.form_swarm()
                step(_say("swarm formed"))
            self._show_status(self._status_rows(self.cluster))

    def down(self) -> None:
        with self._action(_say("taking the lab down"), 1):
            self._require_lab("take the lab down")
            self.lab.down()
            self._show_status(self._status_rows(self.cluster))

    def _require_lab(self, what: str) -> None:
        if self.replay:
            raise SwarmlabError(_say(f"cannot {what}: {REPLAY_REASON}"))
        if self.lab is None:
            raise SwarmlabError(_say(f"cannot {what}: no local lab behind {self.cluster.source}"))

    # --- faults, doctor, fix -------------------------------------------------------
    def _describe_fault(self) -> None:
        spec = faults.FAULTS.get(self.fault_menu.value)
        self.fault_help.value = f"<small>{html.escape(spec.description)}</small>" if spec else ""

    def inject(self, fault: str | None = None, node: str | None = None, rejoin: bool | None = None):
        """faults.inject on the chosen node; returns the FaultReport (None when it failed)."""
        fault, node = fault or self.fault_menu.value, node or self.node_menu.value
        rejoin = self.rejoin_box.value if rejoin is None else rejoin
        report = None
        with self._action(_say(f"injecting {fault} into {node}"), 2) as step:
            self._refuse_in_replay()
            report = faults.inject(self.cluster, fault, node=node, rejoin=rejoin)
            step(_say("refreshing the status"))
            self._after(report)
        return report

    def undo(self, fault: str | None = None, node: str | None = None):
        fault, node = fault or self.fault_menu.value, node or self.node_menu.value
        report = None
        with self._action(_say(f"undoing {fault} on {node}"), 2) as step:
            self._refuse_in_replay()
            report = faults.undo(self.cluster, fault, node=node)
            step(_say("refreshing the status"))
            self._after(report)
        return report

    def apply_fix(self, node: str | None = None):
        """fix_gwbridge on the chosen node, modelled on the manager's; returns the FixReport."""
        node = node or self.node_menu.value
        report = None
        with self._action(_say(f"creating docker_gwbridge on {node}"), 2) as step:
            self._refuse_in_replay()
            report = fix_module.fix_gwbridge(self.cluster.node(node), like=self.cluster.manager)
            step(_say("refreshing the status"))
            self._after(report)
        return report

    def run_doctor(self) -> pd.DataFrame | None:
        """The doctor on every node; the findings, worst first (also shown as a table)."""
        with self._action(_say("the doctor is looking at every node"), 1):
            findings = run_doctor_on(self._looking())
            self.findings = findings
            counts = findings["severity"].value_counts()
            summary = ", ".join(f"{counts.get(s, 0)} {_say(s)}" for s in SEVERITIES_SHOWN)
            self.findings_html.value = _wrap(f"<div><b>doctor</b>: {html.escape(summary)}</div>"
                                             + style_findings(findings).to_html())
        return self.findings

    def _refuse_in_replay(self) -> None:
        if self.replay:
            raise SwarmlabError(_say(REPLAY_REASON))

    def _after(self, report) -> None:
        self.last_report = report
        self.log_html.value = _pre(report.terminal())
        self._show_status(self._status_rows(self.cluster))


def _status_row(node: Node, result: Result | BaseException) -> dict:
    row = {"node": node.name, "address": node.address, "role": node.role}
    if isinstance(result, RecordingError):
        return row | {"docker": "-", "swarm": _say("not in this recording")}
    if isinstance(result, BaseException):
        return row | {"docker": "-", "swarm": _say(f"unreachable: {result}")}
    words = result.stdout.split()
    if not result.ok or len(words) < 2:
        why = (result.stderr or result.stdout).strip().splitlines()
        return row | {"docker": _say("not answering"), "swarm": why[-1] if why else _say(f"exit code {result.exit_code}")}
    state = words[1] + (" (manager)" if len(words) > 2 and words[2] == "true" else "")
    return row | {"docker": words[0], "swarm": state}


def lab_panel(lesson_or_cluster) -> LabPanel:
    """A panel for a lesson (or a Cluster): node status, lab up/down, faults, doctor, fix.

    The lab comes from `lesson.lab` or `cluster.lab`. In a replay only the status
    and (when the recording holds it) the doctor answer; the rest is disabled.
    """
    return LabPanel(lesson_or_cluster)


# --- the node console ---------------------------------------------------------------
class NodeConsole(W.VBox):
    """Pick a node, type a command, see its output and (when swarmlab can parse it) a table.

    `run(command=None, node=None)` is what the Run button calls. In a replay only
    recorded commands answer: the `recorded` dropdown lists them for the node.
    """

    PICK = "— a recorded command —"  # shown through _say (WIDGET_TABLES names it for the catalog)

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.replay = is_replay(cluster)
        self.result: Result | None = None
        self.table: pd.DataFrame | None = None
        self.error: BaseException | None = None
        names = list(cluster.nodes)
        self.node_menu = W.Dropdown(options=names, value=names[-1], description=_say("node"),
                                    style={"description_width": "initial"}, layout=W.Layout(width="10em"))
        self.command = W.Text(placeholder="docker network ls", description=_say("command"),
                              layout=W.Layout(width="36em"))
        self.run_button = _button(_say("Run"), self.run, "primary", icon="terminal")
        self.recorded_menu = W.Dropdown(description=_say("recorded"), layout=W.Layout(width="48em"))
        self.recorded_menu.observe(self._picked, "value")
        self.note = W.HTML()
        self.output_html = W.HTML()
        self.table_html = W.HTML()
        rows = [W.HBox([self.node_menu, self.command, self.run_button])]
        if self.replay:
            rows.append(self.recorded_menu)
            self.node_menu.observe(lambda change: self._list_recorded(), "value")
            self._list_recorded()
            self.note.value = _message(_say("replay of a recording: only recorded commands answer, "
                                            "with what the real lab printed"))
        super().__init__(children=rows + [self.note, self.output_html, self.table_html])

    def __repr__(self):
        mode = "replay: recorded commands only" if self.replay else "live"
        return f"<NodeConsole {self.cluster.source} ({mode}); nodes {', '.join(self.cluster.nodes)}>"

    def recorded_commands(self, node: str | None = None) -> list[str]:
        """The commands the recording holds for `node` (empty when live)."""
        if not self.replay:
            return []
        return self.cluster.node(node or self.node_menu.value).transport.commands()

    def _list_recorded(self) -> None:
        options = [(_say(self.PICK), "")]
        for command in self.recorded_commands():
            first = command.splitlines()[0]
            label = first if len(first) <= 90 and "\n" not in command else first[:87] + "…"
            options.append((label, command))
        self.recorded_menu.options = options
        self.recorded_menu.value = ""

    def _picked(self, change) -> None:
        if change["new"]:
            self.command.value = change["new"]

    def run(self, command: str | None = None, node: str | None = None) -> Result | None:
        """Run `command` (default: the text box) on `node` (default: the menu); show output and table."""
        if command is not None:
            self.command.value = command
        if node is not None:
            self.node_menu.value = node
        command, node = self.command.value.strip(), self.cluster.node(self.node_menu.value)
        self.result, self.table, self.error = None, None, None
        self.output_html.value = self.table_html.value = ""
        if not command:
            self.note.value = _message(_say("type a command first"), "error")
            return None
        self.run_button.disabled = True
        self.note.value = _message(_say(f"running on {node.name}…"), "busy")
        try:
            if self.replay:
                result, note = node.transport.as_of_now(command)
            else:
                started = time.monotonic()
                result = node.run(command, timeout=60)
                note = f"{node.name} answered in {time.monotonic() - started:.2f} s"  # shown through _say
        except Exception as exc:  # a RecordingError names the command; show it, do not raise
            self.error = exc
            self.note.value = _message(_say(str(exc)), "error")
            return None
        finally:
            self.run_button.disabled = False
        self.result = result
        self.note.value = _message(_say(note), "info" if result.ok else "error")
        self.output_html.value = _pre(result.terminal())
        self._show_table(command, result)
        return result

    def _show_table(self, command: str, result: Result) -> None:
        parser = parse.parser_for(command)
        if parser is None or not result.stdout.strip():
            return
        name, parse_fn = parser
        try:
            self.table = parse_fn(result.stdout)
        except SwarmlabError as exc:
            self.table_html.value = _message(_say(f"{name} could not read it: {exc}"), "error")
            return
        self.table_html.value = _table_html(self.table, _say(f"as a table ({name})"))


def node_console(cluster: Cluster) -> NodeConsole:
    """Type a command for a node; see the raw output and, when a parser knows it, the table."""
    return NodeConsole(cluster)


# --- the service monitor ----------------------------------------------------------------
class ServiceMonitor(W.VBox):
    """`swarm.tasks` of a service, states coloured, refreshed by a button or by a Play widget.

    Live, refresh() asks the manager again. In a replay the first look is the
    lesson's own (it runs at construction, as live), and then refresh() steps
    through the recorded `service ps` results, one sample at a time.
    """

    def __init__(self, cluster: Cluster, service: str = swarm.SERVICE, interval: float = 2.0):
        self.cluster, self.service = cluster, service
        self.replay = is_replay(cluster)
        self.command = swarm.tasks_command(service)
        self.tasks: pd.DataFrame | None = None
        self.error: BaseException | None = None
        self.samples: list[Result] = []
        self.index = -1
        self.refreshes = 0
        self.refresh_button = _button(_say("Refresh"), self.refresh, icon="refresh")
        self.play = W.Play(value=0, min=0, max=10**9, step=1, interval=int(interval * 1000),
                           description=_say("auto-refresh"), show_repeat=False,
                           tooltip=_say("refresh every few seconds until stopped"))
        self.play.observe(self._tick, "value")
        self.caption = W.HTML()
        self.table_html = W.HTML()
        super().__init__(children=[
            W.HBox([W.HTML(f"<b>{html.escape(_say(f'service {service}'))}</b>"), self.refresh_button, self.play,
                    W.HTML(f"<small>&nbsp;{html.escape(_say('auto-refresh: ▶ starts, ■ stops'))}</small>")]),
            self.caption, self.table_html])
        self._first_look()

    def __repr__(self):
        text = f"<ServiceMonitor {self.service} on {self.cluster.source}>"
        if self.tasks is not None:
            text += "\n" + self._summary()
        elif self.error is not None:
            text += f"\n{self.error}"
        return text

    def _first_look(self) -> None:
        try:
            result = self.cluster.manager.run(self.command)
            if self.replay:  # the samples to step through; start at the one just replayed
                self.samples = self.cluster.manager.transport.recorded(self.command)
                self.index = next((i for i, r in enumerate(self.samples)
                                   if r.extra.get("seq") == result.extra.get("seq")), 0)
                self.play.max = max(0, len(self.samples) - 1)
                if self.play.value != self.index:
                    self.play.value = self.index  # _tick shows it
                else:
                    self.show_sample(self.index)
            else:
                self._show(result)
        except Exception as exc:
            self._failed(exc)

    def _tick(self, change) -> None:
        if self.replay:
            self.show_sample(change["new"])
        else:
            self.refresh()

    def refresh(self) -> pd.DataFrame | None:
        """Live: the tasks now. Replay: the next recorded sample (after the last, the first)."""
        if self.replay:
            if not self.samples:
                return None
            self.play.value = (self.index + 1) % len(self.samples)  # _tick shows it
            return self.tasks
        try:
            self._show(self.cluster.manager.run(self.command))
        except Exception as exc:
            self._failed(exc)
            self.play.playing = False
        return self.tasks

    def show_sample(self, index: int) -> pd.DataFrame | None:
        """Replay: show recorded sample `index` (0-based) of the service's task list."""
        if not self.samples:
            return None
        self.index = max(0, min(index, len(self.samples) - 1))
        self._show(self.samples[self.index])
        return self.tasks

    def _show(self, result: Result) -> None:
        result.check(hint=f"does service {self.service!r} exist? `docker service ls` on {self.cluster.manager.name}")
        self.tasks, self.error = parse.tasks_from_json(result.stdout), None
        self.refreshes += 1
        self.table_html.value = _wrap(style_tasks(self.tasks).to_html()) if len(self.tasks) else \
            _message(_say(f"service {self.service} has no tasks"))
        self.caption.value = _message(self._summary())

    def _summary(self) -> str:
        running = swarm.placement(self.tasks)
        failed = len(swarm.failed(self.tasks))
        where = ", ".join(f"{node}: {count}" for node, count in sorted(running.items())) or _say("none")
        text = _say(f"running replicas: {where}; failed tasks listed: {failed}")
        if self.replay:
            first = recorded_end(self.samples[0]) - self.samples[0].duration if self.samples else 0.0
            at = recorded_end(self.samples[self.index]) - self.samples[self.index].duration - first
            return _say(f"recorded sample {self.index + 1} of {len(self.samples)} (t = +{at:.1f} s)") + " — " + text
        return f"{time.strftime('%H:%M:%S')} — " + text

    def _failed(self, exc: BaseException) -> None:
        self.error = exc
        self.caption.value = _message(_say(f"cannot list the tasks of {self.service}: {exc}"), "error")


def service_monitor(cluster: Cluster, service: str = swarm.SERVICE, interval: float = 2.0) -> ServiceMonitor:
    """The tasks of `service` (swarm.tasks), states coloured; Refresh, or auto-refresh with ▶."""
    return ServiceMonitor(cluster, service, interval)
