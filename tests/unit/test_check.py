"""`swarmlab check`: what the lab cannot do without, and what it can."""
from swarmlab.check import Check, can_run_lab, run_checks


def test_every_check_says_what_to_do_when_it_fails():
    for check in run_checks():
        assert check.ok or check.fix, f"{check.name} failed without saying what to do"


def test_optional_checks_do_not_stop_the_lab():
    base = [Check("root", True, ""), Check("dockerd", True, "")]
    assert can_run_lab(base + [Check("kernel ip_vs", False, "missing", "modprobe ip_vs"),
                               Check("sshd", False, "missing", "apt-get install -y openssh-server")])
    assert not can_run_lab(base + [Check("kernel vxlan", False, "missing", "modprobe vxlan")])
    assert not can_run_lab([Check("root", False, "not root", "run as root")])
