"""swarmlab/doctor/tasks.py: the task table, Docker's errors by failure mode, and failures that
are history because the replica runs now."""
import json
import re

import pytest

from swarmlab.doctor import diagnose
from swarmlab.doctor.facts import Facts
from swarmlab.doctor.tasks import failure_mode
from swarmlab.parse import tasks_from_json
from swarmlab.story import task_history

from .cases import CASES, facts


def test_task_table_strips_the_quotes_and_keeps_the_full_error():
    line = json.dumps({"CurrentState": "Failed 3 seconds ago", "DesiredState": "Shutdown",
                       "Error": '"starting container failed: error creating external connectivity network: x"',
                       "ID": "abc", "Name": "test.2", "Node": "node2"})
    table = tasks_from_json(line)
    assert table.loc[0, "error"] == "starting container failed: error creating external connectivity network: x"
    assert table.loc[0, "slot"] == "2" and table.loc[0, "state"] == "Failed"


def test_task_history_takes_the_node_a_pending_task_got_later():
    import pandas as pd
    timeline = pd.DataFrame([
        {"t": 0.0, "slot": "2", "id": "a", "node": "", "desired state": "Running", "state": "Pending", "error": ""},
        {"t": 0.5, "slot": "2", "id": "a", "node": "node2", "desired state": "Shutdown", "state": "Failed", "error": "x"},
        {"t": 0.5, "slot": "2", "id": "b", "node": "node1", "desired state": "Running", "state": "Running", "error": ""},
    ])
    history = task_history(timeline)
    assert list(history["node"]) == ["node2", "node1"]
    assert list(history["state"]) == ["Failed", "Running"]


@pytest.mark.parametrize("error, title", [
    ("starting container failed: error creating external connectivity network: could not find an available, "
     "non-overlapping IPv4 address pool among the defaults to assign to the network", "no address pool for docker_gwbridge"),
    ("starting container failed: error creating external connectivity network: failed to allocate gateway",
     "docker_gwbridge could not be created"),
    ("network 6y01gnuy7r1nfzqrx1gbxvwse not found", "overlay network not on the node"),
    ("no suitable node (scheduling constraints not satisfied on 2 nodes)", "no node fits the task"),
    ("something new", "unrecognised"),
])
def test_failure_modes(error, title):
    assert failure_mode(error).title == title


def test_failures_of_a_replica_that_runs_now_are_history():
    """The scheduler moved node2's replica to node1: its failures are info; the missing bridge is not."""
    findings = diagnose(facts("vpn-routes-moved")).set_index(["node", "check"])
    task = findings.loc[("node2", "task errors: no address pool for docker_gwbridge")]
    assert task["severity"] == "info" and re.search(r"since resolved: test\.[12] runs now", task["cause"])
    assert re.search(r"the last Failed \d+ seconds ago", task["cause"])
    assert findings.loc[("node2", "docker_gwbridge"), "severity"] == "error"
    assert findings.loc[("node2", "dockerd log"), "severity"] == "error"


def test_a_swarm_without_services_has_no_task_findings():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node1"]["sections"]["tasks"] = ""
    findings = diagnose(Facts.from_dict(data))
    assert not findings["check"].str.startswith("task errors").any()


def test_failures_of_a_replica_still_retrying_are_errors():
    findings = diagnose(facts("vpn-routes")).set_index(["node", "check"])
    assert findings.loc[("node2", "task errors: no address pool for docker_gwbridge"), "severity"] == "error"
