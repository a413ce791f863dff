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


def test_esp_gcm_is_checked_beside_ip_vs_and_is_optional():
    checks = {c.name: c for c in run_checks()}
    assert "kernel ip_vs" in checks and "kernel esp/gcm" in checks
    esp = checks["kernel esp/gcm"]
    # Asked of the kernel itself (a security association in a throwaway namespace), so a missing
    # ESP/GCM quotes the kernel's own answer.
    assert esp.ok or "answers" in esp.detail or "not checked" in esp.detail
    base = [Check("root", True, ""), Check("dockerd", True, "")]
    assert can_run_lab(base + [Check("kernel esp/gcm", False, "missing", "a kernel with ESP")])
