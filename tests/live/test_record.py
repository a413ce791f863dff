"""Record a real session on a lab, then replay it: same Results, same order, secrets masked."""
from __future__ import annotations

import json

import pytest

import swarmlab
from swarmlab.errors import RecordingError
from swarmlab import Recorder
from swarmlab.transport.recording import Masker


def swarm_session(cluster):
    """The article's first steps: init, the worker's token, join, node ls; plus a secret file."""
    manager, worker = cluster.node("node1"), cluster.node("node2")
    results = [manager.run(["docker", "swarm", "init", "--advertise-addr", manager.address])]
    token = manager.run("docker swarm join-token -q worker")
    results.append(token)
    results.append(worker.run(["docker", "swarm", "join", "--token", token.stdout.strip(),
                               f"{manager.address}:2377"]))
    results.append(manager.run("docker node ls --format '{{.Hostname}} {{.ManagerStatus}}'"))
    results.append(manager.run("cat /etc/ssh/ssh_host_ed25519_key"))
    results.append(worker.run("docker node ls"))  # fails: a worker cannot list nodes
    return results


def fields(results):
    return [(r.node, r.command, r.stdout, r.stderr, r.exit_code) for r in results]


def test_record_a_real_session_then_replay_it(make_lab, tmp_path):
    lab = make_lab()
    path = tmp_path / "session.json"
    with Recorder(swarmlab.connect(lab), path) as rec:
        live = swarm_session(rec.cluster)
    token = live[1].stdout.strip()
    assert token.startswith("SWMTKN-1-") and live[2].ok and not live[5].ok

    text = path.read_text()
    data = json.loads(text)
    assert (data["format"], data["version"], data["masked"]) == ("swarmlab-recording", 1, True)
    assert [n["name"] for n in data["nodes"]] == ["node1", "node2"]
    assert token not in text and "SWMTKN-1-masked-1" in text
    assert "BEGIN OPENSSH PRIVATE KEY-----\\nmasked-key-1\\n" in text
    assert data["runs"][2]["command"].startswith("docker swarm join --token SWMTKN-1-masked-1 ")
    assert "SWMTKN-1-masked-1" in data["runs"][0]["stdout"]  # init's own hint: the same placeholder

    # What the file says is what ran, masked the same way.
    masker = Masker()
    expected = []
    for r in live:
        expected.append((r.node, masker.mask(r.command), masker.mask(r.stdout), masker.mask(r.stderr), r.exit_code))
    assert [(r["node"], r["command"], r["stdout"], r["stderr"], r["exit_code"]) for r in data["runs"]] == expected

    # Replaying the same lesson code gives the same Results, in the same order.
    replay = swarmlab.connect(path)
    assert fields(swarm_session(replay)) == expected

    with pytest.raises(RecordingError, match=r"`docker service ls` on node1 was never recorded"):
        replay.node("node1").run("docker service ls")
    with pytest.raises(RecordingError, match=r"recorded 1 time; this is run 2"):
        replay.node("node1").run("docker swarm join-token -q worker")


def test_record_over_ssh_too(make_lab, tmp_path):
    lab = make_lab()
    with swarmlab.connect(lab, via="ssh") as cluster:
        rec = Recorder(cluster)
        rec.cluster.node("node2").run("hostname")
        rec.cluster.node("node2").run("exit 4")
        path = rec.save(tmp_path / "ssh.json")
    replay = swarmlab.Cluster.from_recording(path)
    assert replay.source == f"recording {path}"
    assert [fields([replay.node("node2").run(c)])[0] for c in ("hostname", "exit 4")] == [
        ("node2", "hostname", "node2\n", "", 0), ("node2", "exit 4", "", "", 4)]
