"""Recordings: the format, masking of secrets, and replay (no lab needed)."""
from __future__ import annotations

import json

import pytest

from swarmlab.cluster import Cluster, Node, connect
from swarmlab.errors import RecordingError
from swarmlab.result import Result
from swarmlab.transport import Transport
from swarmlab.transport.recording import FORMAT, VERSION, Masker, Recorder, load_recording

TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"
TOKEN2 = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-7p73s1dx5in4tatdymyhg9hu2"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAAB3NzaC1=\n-----END OPENSSH PRIVATE KEY-----"


class FakeTransport(Transport):
    """Answers from a table; what a scripted node would print."""

    def __init__(self, name, answers):
        self.node_name = name
        self.answers = answers

    def run(self, command, *, input=None, timeout=120):
        text = command if isinstance(command, str) else " ".join(command)
        out, code = self.answers.get(text, ("", 127))
        return Result(self.node_name, text, out, "" if code == 0 else f"{text}: not found\n", code, 0.01)


def fake_cluster():
    manager = FakeTransport("node1", {
        "docker swarm join-token -q worker": (TOKEN + "\n", 0),
        "docker node ls": ("ID HOSTNAME\nabc node1\n", 0),
        "cat key": (KEY + "\n", 0),
        "echo hunter2": ("hunter2\n", 0),
    })
    worker = FakeTransport("node2", {
        f"docker swarm join --token {TOKEN} 172.16.155.131:2377": ("This node joined a swarm as a worker.\n", 0),
    })
    return Cluster([Node("node1", "172.16.155.131", manager, "manager"),
                    Node("node2", "172.16.155.132", worker, "worker")], source="fake lab")


def session(cluster):
    """A short session: what a lesson does."""
    token = cluster.node("node1").run("docker swarm join-token -q worker").stdout.strip()
    return [
        cluster.node("node2").run(["docker", "swarm", "join", "--token", token, "172.16.155.131:2377"]),
        cluster.node("node1").run("docker node ls"),
        cluster.node("node1").run("docker node ls"),
        cluster.node("node1").run("cat key"),
        cluster.node("node2").run("false-command"),
    ]


def test_masker_is_stable_and_numbers_by_kind():
    m = Masker(secrets=["hunter2"])
    m.add("s3cr3t", name="db-password")
    text = f"{TOKEN} {TOKEN2} {TOKEN} hunter2 s3cr3t SWMKEY-1-abcDEF123+/= {KEY}"
    assert m.mask(text) == (
        "SWMTKN-1-masked-1 SWMTKN-1-masked-2 SWMTKN-1-masked-1 masked-secret-1 masked-db-password "
        "SWMKEY-1-masked-3 -----BEGIN OPENSSH PRIVATE KEY-----\nmasked-key-1\n-----END OPENSSH PRIVATE KEY-----")
    assert m.mask(TOKEN2) == "SWMTKN-1-masked-2"  # the same secret, the same placeholder, later too
    assert m.mask("SWMTKN-1-masked-1") == "SWMTKN-1-masked-1"  # placeholders stay as they are


def test_a_private_key_cut_short_is_masked_to_the_end():
    assert Masker().mask("key:\n" + KEY[:60]) == (
        "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nmasked-key-1\n-----END OPENSSH PRIVATE KEY-----")


def test_masker_refuses_empty_secrets_and_bad_names():
    with pytest.raises(RecordingError, match="non-empty"):
        Masker().add("")
    with pytest.raises(RecordingError, match="bad secret name"):
        Masker().add("x", name="has space")


def test_recording_format_and_masking(tmp_path):
    with Recorder(fake_cluster(), tmp_path / "s.json", secrets=["hunter2"]) as rec:
        session(rec.cluster)
        rec.cluster.node("node1").run("echo hunter2")
    data = json.loads((tmp_path / "s.json").read_text())
    assert (data["format"], data["version"], data["source"], data["masked"]) == (FORMAT, VERSION, "fake lab", True)
    assert data["created"].endswith("+00:00")
    assert data["nodes"] == [{"name": "node1", "address": "172.16.155.131", "role": "manager"},
                             {"name": "node2", "address": "172.16.155.132", "role": "worker"}]
    runs = data["runs"]
    assert [r["seq"] for r in runs] == list(range(1, 8))
    assert set(runs[0]) == {"seq", "node", "command", "stdout", "stderr", "exit_code", "duration", "time"}
    text = (tmp_path / "s.json").read_text()
    assert TOKEN not in text and "b3BlbnNzaC1" not in text and "hunter2" not in text
    assert runs[0]["stdout"] == "SWMTKN-1-masked-1\n"
    assert runs[1]["command"] == "docker swarm join --token SWMTKN-1-masked-1 172.16.155.131:2377"
    assert "masked-key-1" in runs[4]["stdout"]
    assert runs[6]["command"] == "echo masked-secret-1" and runs[6]["stdout"] == "masked-secret-1\n"
    assert runs[5]["exit_code"] == 127


def test_keep_secrets_keeps_them(tmp_path):
    rec = Recorder(fake_cluster(), keep_secrets=True)
    session(rec.cluster)
    rec.save(tmp_path / "s.json")
    data = load_recording(tmp_path / "s.json")
    assert data["masked"] is False and data["runs"][0]["stdout"] == TOKEN + "\n"


def test_replay_round_trip_gives_the_same_results_in_order(tmp_path):
    rec = Recorder(fake_cluster())
    live = session(rec.cluster)
    rec.save(tmp_path / "s.json")
    replayed = session(connect(tmp_path / "s.json"))
    masker = Masker()
    masker.mask(TOKEN)
    expected = [Result(r.node, masker.mask(r.command), masker.mask(r.stdout), r.stderr, r.exit_code, r.duration)
                for r in live]
    assert [(r.node, r.command, r.stdout, r.stderr, r.exit_code) for r in replayed] == \
           [(r.node, r.command, r.stdout, r.stderr, r.exit_code) for r in expected]
    assert [r.extra["seq"] for r in replayed] == [2, 3, 4, 5, 6]


def test_replay_masks_a_real_token_in_the_command(tmp_path):
    rec = Recorder(fake_cluster())
    session(rec.cluster)
    rec.save(tmp_path / "s.json")
    cluster = Cluster.from_recording(tmp_path / "s.json")
    cluster.node("node1").run("docker swarm join-token -q worker")
    result = cluster.node("node2").run(f"docker swarm join --token {TOKEN} 172.16.155.131:2377")
    assert result.stdout == "This node joined a swarm as a worker.\n"


def test_replay_errors_name_node_and_command_and_count(tmp_path):
    rec = Recorder(fake_cluster())
    session(rec.cluster)
    rec.save(tmp_path / "s.json")
    cluster = connect(str(tmp_path / "s.json"))
    with pytest.raises(RecordingError, match=r"`docker service ls` on node1 was never recorded"):
        cluster.node("node1").run("docker service ls")
    node1 = cluster.node("node1")
    node1.run("docker node ls")
    node1.run("docker node ls")
    with pytest.raises(RecordingError, match=r"`docker node ls` on node1 was recorded 2 times; this is run 3"):
        node1.run("docker node ls")
    with pytest.raises(RecordingError, match=r"no command for node2|never recorded"):
        cluster.node("node2").run("docker node ls")


def test_replay_needs_the_same_registered_secrets(tmp_path):
    rec = Recorder(fake_cluster(), secrets=["hunter2"])
    rec.cluster.node("node1").run("echo hunter2")
    rec.save(tmp_path / "s.json")
    assert Cluster.from_recording(tmp_path / "s.json", secrets=["hunter2"]).node("node1").run(
        "echo hunter2").stdout == "masked-secret-1\n"
    with pytest.raises(RecordingError, match="never recorded"):
        Cluster.from_recording(tmp_path / "s.json").node("node1").run("echo hunter2")


def test_recorder_on_a_single_transport(tmp_path):
    rec = Recorder(FakeTransport("vm1", {"uptime": ("up 3 days\n", 0)}), tmp_path / "t.json")
    rec.transport.run("uptime")
    rec.save()
    data = load_recording(tmp_path / "t.json")
    assert data["nodes"] == [{"name": "vm1", "address": "", "role": ""}]
    assert connect(tmp_path / "t.json").node("vm1").run("uptime").stdout == "up 3 days\n"


@pytest.mark.parametrize("content,words", [
    ("{", "not valid JSON"),
    ('{"format": "something"}', "not a swarmlab recording"),
    ('{"format": "swarmlab-recording", "version": 99, "nodes": [], "runs": []}', "version 99"),
    ('{"format": "swarmlab-recording", "version": 1, "nodes": []}', "`runs` is missing"),
    ('{"format": "swarmlab-recording", "version": 1, "nodes": [], "runs": [{"node": "n1", "stdout": "", '
     '"stderr": "", "exit_code": 0}]}', "run 0 has no str `command`"),
    ('{"format": "swarmlab-recording", "version": 1, "nodes": [], "runs": [7]}', "run 0 is not an object"),
    (b'\xff\xfe{', "not valid JSON"),
])
def test_bad_recording_files(tmp_path, content, words):
    path = tmp_path / "r.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RecordingError, match=words):
        load_recording(path)
    with pytest.raises(RecordingError, match="not found"):
        load_recording(tmp_path / "missing.json")


def test_replay_has_no_docker_api(tmp_path):
    rec = Recorder(fake_cluster())
    rec.save(tmp_path / "s.json")
    from swarmlab.errors import SwarmlabError
    with pytest.raises(SwarmlabError, match="no Docker API"):
        connect(tmp_path / "s.json").node("node1").client


def test_a_token_right_after_a_word_character_is_masked():
    m = Masker()
    assert m.mask(f"token_{TOKEN} x{TOKEN2}") == "token_SWMTKN-1-masked-1 xSWMTKN-1-masked-2"


def test_recordings_are_readable_by_their_owner_only_unless_asked(tmp_path):
    import stat
    (tmp_path / "old.json").write_text("{}")
    (tmp_path / "old.json").chmod(0o644)
    for name in ("new.json", "old.json"):
        Recorder(fake_cluster(), tmp_path / name).save()
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    Recorder(fake_cluster(), tmp_path / "shared.json", mode=0o644).save()
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o644


def test_the_recorder_is_at_the_packages_face():
    from swarmlab import Recorder as documented
    assert documented is Recorder


class ApiNode:
    """A lab node's Docker API as swarm.join speaks it: it notes each call (the token in a body)."""

    def __init__(self):
        self.calls = []

    def docker_api(self, method, path, body=None, timeout=60):
        self.calls.append((method, path, body))
        return {"Swarm": {"ControlAvailable": False}} if path == "/info" else None


class ApiTransport(FakeTransport):
    def __init__(self, name, lab_node):
        super().__init__(name, {})
        self.lab_node = lab_node


def test_a_join_goes_through_the_api_and_is_recorded_and_replayed_as_its_command(tmp_path):
    from swarmlab import story
    api = ApiNode()
    worker = ApiTransport("node2", api)
    cluster = Cluster([Node("node1", "172.16.155.131", FakeTransport("node1", {}), "manager"),
                       Node("node2", "172.16.155.132", worker, "worker")], source="fake lab")
    rec = Recorder(cluster)
    joined = story.swarm_join(rec.cluster, "node2", TOKEN)
    assert (joined.command, joined.stdout, joined.exit_code) == (
        f"docker swarm join --token {TOKEN} 172.16.155.131:2377", "This node joined a swarm as a worker.\n", 0)
    assert api.calls[0] == ("POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "",
                                                     "RemoteAddrs": ["172.16.155.131:2377"], "JoinToken": TOKEN})
    rec.save(tmp_path / "s.json")
    assert load_recording(tmp_path / "s.json")["runs"][0]["command"] == \
        "docker swarm join --token SWMTKN-1-masked-1 172.16.155.131:2377"
    replayed = story.swarm_join(connect(tmp_path / "s.json"), "node2", "SWMTKN-1-masked-1")
    assert (replayed.stdout, replayed.exit_code) == ("This node joined a swarm as a worker.\n", 0)
