"""The classroom's pure parts: the class list, subordinate ranges, limits, progress records, the teacher's CSV."""
from __future__ import annotations

import json
import os
import stat

import pytest

from swarmlab import progress
from swarmlab.classroom import roster, teacher
from swarmlab.errors import ClassroomError, LabError
from swarmlab.lab import limits


def test_a_class_list_gives_names_in_order_and_skips_comments():
    assert roster.read_class_list("# class 3b\nalice\n\nbob  # late\n") == ["alice", "bob"]


@pytest.mark.parametrize("text, said", [("Alice\n", "line 1: 'Alice' is not a user name"),
                                        ("bob\nbob\n", "line 2: bob is listed twice"),
                                        ("# nobody\n", "names no student"),
                                        ("ok\nrm -rf\n", "line 2: 'rm -rf' is not a user name")])
def test_a_bad_class_list_says_which_line(text, said):
    with pytest.raises(ClassroomError, match=said):
        roster.read_class_list(text)


def test_a_new_subordinate_range_starts_past_every_range():
    text = "a:100000:65536\nb:300000000:65536\nbroken line\n"
    assert roster.free_subordinate_start(None, text) == 300065536
    assert roster.free_subordinate_start(None, "") == roster.FIRST_SUBID


@pytest.fixture
def limits_file(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    path = folder / "limits.json"
    limits.write({"alice": limits.Limits(labs=1, nodes=2, memory_mb=128)}, path)
    return path


def check(path, nodes, up, name="lesson01", user="alice"):
    if os.geteuid() == 0:  # root is never limited: check as the student would be
        import unittest.mock
        with unittest.mock.patch("os.geteuid", return_value=1000):
            return limits.check_lab(nodes, up, name, user=user, path=path)
    return limits.check_lab(nodes, up, name, user=user, path=path)


def test_a_lab_within_the_limits_passes(limits_file):
    check(limits_file, 2, {})
    check(limits_file, 2, {"lesson01": 2})  # the lab being replaced does not count against itself
    check(limits_file, 5, {}, user="bob")  # not a student: no limit


@pytest.mark.parametrize("nodes, up, said", [
    (3, {}, "3 nodes is over your classroom limit .* of 2 nodes per lab"),
    (2, {"other": 2}, "you may have 1 lab\\(s\\) up at once.*labs up now: other"),
])
def test_a_lab_over_a_limit_is_refused_in_one_line(limits_file, nodes, up, said):
    with pytest.raises(LabError, match=said) as caught:
        check(limits_file, nodes, up)
    assert "\n" not in str(caught.value)


def test_memory_is_counted_as_lab_up_counts_it(limits_file):
    limits.write({"carol": limits.Limits(labs=2, nodes=2, memory_mb=3 * limits.NODE_MEMORY_MB)}, limits_file)
    with pytest.raises(LabError, match=f"{4 * limits.NODE_MEMORY_MB} MB of lab memory"):
        check(limits_file, 2, {"first": 2}, name="second", user="carol")


def test_a_limits_file_others_may_write_is_refused(limits_file):
    limits_file.chmod(0o666)
    with pytest.raises(LabError, match="cannot be trusted"):
        check(limits_file, 2, {})


def test_removing_the_last_student_removes_the_file(limits_file):
    limits.remove(["alice"], limits_file)
    assert not limits_file.exists()


def test_a_lesson_records_its_progress_in_the_student_s_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(progress.VARIABLE, str(tmp_path / "me"))
    (tmp_path / "me").mkdir()
    progress.record("01", state="open", claims_passed=0)
    progress.record("01", claims_passed=3)
    found = progress.read_student(tmp_path, "me", os.getuid())
    assert found["01"]["state"] == "open" and found["01"]["claims_passed"] == 3
    assert stat.S_IMODE((tmp_path / "me" / "01.json").stat().st_mode) == 0o644


def test_a_record_not_owned_by_the_student_is_not_believed(tmp_path):
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "01.json").write_text(json.dumps({"lesson": "01", "claims_passed": 9}))
    assert progress.read_student(tmp_path, "bob", os.getuid() + 1) == {}  # the folder is not bob's
    (tmp_path / "bob" / "02.json").symlink_to(tmp_path / "bob" / "01.json")
    assert list(progress.read_student(tmp_path, "bob", os.getuid())) == ["01"]  # a link is not believed


def test_outside_a_classroom_nothing_is_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.VARIABLE, raising=False)
    progress.record("01", state="open")
    assert list(tmp_path.iterdir()) == []


def test_the_teacher_s_csv_has_a_row_per_student():
    rows = [{"student": "alice", "server": "ready", "lessons": {"01": {"state": "closed", "claims_passed": 5}},
             "labs": [{"name": "lesson01", "nodes": 2, "swarm": {"node1": "active", "node2": "active"}}],
             "drill": {"check": {"passed": True, "failed": []}}, "grades": {"01": "1/1", "03": "1/4"}},
            {"student": "bob", "server": "stopped", "lessons": {}, "labs": [], "drill": {}, "grades": {}}]
    lines = teacher.as_csv(rows).splitlines()
    assert lines[0].startswith("student,server,lesson 00,lesson 01")
    assert lines[1].startswith("alice,ready,,\"closed, 5 claims passed\"") and "repaired" in lines[1]
    assert "node1 active" in lines[1]
    assert lines[1].endswith(',"01: 1/1, 03: 1/4"') and lines[0].endswith(",grades")
    assert lines[2].startswith("bob,stopped,") and "no lab up" in lines[2]


def test_capacity_counts_labs_as_lab_up_does_then_servers_too():
    from swarmlab.classroom.capacity import SERVER_MEMORY_MB, report
    meminfo = "MemTotal: 10240000 kB\nMemAvailable: 6144000 kB\n"  # 10000 MB, 6000 MB available
    labs, servers = report(2, meminfo)
    assert labs.startswith(f"{(6000 - 1000) // 64 // 2} students' 2-node labs fit now")
    assert servers.startswith(f"{(6000 - 1000) // (128 + SERVER_MEMORY_MB)} students fit with their JupyterLab")


def test_the_teacher_s_page_reloads_itself_only_when_asked_and_escapes_names():
    rows = [{"student": "a<b", "server": "ready", "lessons": {}, "labs": [], "drill": {}, "grades": {}}]
    page = teacher.as_html(rows, "/services/teacher/", "", 0.5)
    assert 'http-equiv="refresh"' not in page and "a&lt;b" in page and "a<b" not in page
    assert '<meta http-equiv="refresh" content="30">' in teacher.as_html(rows, "/services/teacher/", "", 0.5, 30)


def test_students_servers_find_the_course_in_their_lessons_folder(tmp_path, monkeypatch):
    """release.jupyter_config, as nbgrader in a student's server reads it (JUPYTER_CONFIG_PATH)."""
    from nbgrader.apps.baseapp import NbGrader
    from nbgrader.exchange.default import ExchangeList
    from swarmlab.classroom import release
    from swarmlab.classroom.config import Classroom
    room = Classroom(dir=str(tmp_path / "room"), teacher="t", students=["ana"])
    release.jupyter_config(room)
    monkeypatch.setenv("HOME", str(tmp_path / "ana"))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(room.jupyter_dir))  # as hubconfig sets it for every server
    monkeypatch.chdir(tmp_path)
    app = NbGrader()  # as the Assignments list's server side loads its config
    app.load_config_file()
    lister = ExchangeList(config=app.config)
    assert (lister.assignment_dir, lister.root) == (str(tmp_path / "ana" / "lessons"), str(room.exchange_dir))
    assert app.config.CourseDirectory.course_id == "swarmlab"
    server = json.loads((room.jupyter_dir / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
