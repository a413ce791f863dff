"""How the classroom may be served: plain http only on loopback unless the teacher says so; a key
others may read is refused; each refusal is one line."""
from __future__ import annotations

import os

import pytest

from swarmlab.classroom import tls
from swarmlab.errors import ClassroomError


@pytest.mark.parametrize("address, loopback", [("127.0.0.1", True), ("127.0.0.53", True), ("::1", True),
                                               ("localhost", True), ("0.0.0.0", False), ("::", False),
                                               ("192.0.2.10", False), ("class.example.edu", False)])
def test_which_listen_addresses_are_loopback(address, loopback):
    assert tls.is_loopback(address) is loopback


def test_plain_http_is_refused_on_a_network_address_unless_asked_for():
    with pytest.raises(ClassroomError, match=r"^--listen 0.0.0.0 with plain http would send students' passwords") as e:
        tls.check("0.0.0.0", None, None, None, False)
    assert "\n" not in str(e.value)
    tls.check("0.0.0.0", None, None, None, True)  # --insecure-http: the teacher's choice
    tls.check("0.0.0.0", "self-signed", None, None, False)
    tls.check("127.0.0.1", None, None, None, False)


@pytest.mark.parametrize("args, said", [
    (("self-signed", "c", "k", False), "not both"),
    ((None, "c", None, False), "go together"),
    (("self-signed", None, None, True), "--insecure-http serves plain http"),
    (("letsencrypt", None, None, False), "--tls letsencrypt: the one value is --tls self-signed"),
])
def test_conflicting_tls_options_are_refused(args, said):
    with pytest.raises(ClassroomError, match=said):
        tls.check("0.0.0.0", *args)


def test_a_key_others_may_read_is_refused(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    key.chmod(0o644)
    with pytest.raises(ClassroomError, match=rf"--tls-key .*key.pem: others may read it \(owner uid {os.geteuid()}, "
                                             rf"mode 0o644\): `chown root .* && chmod 600 .*` first$"):
        tls.check("0.0.0.0", None, str(cert), str(key), False)
    key.chmod(0o600)
    if os.geteuid() == 0:
        tls.check("0.0.0.0", None, str(cert), str(key), False)
    else:  # a plain user's key is theirs, not root's: refused too
        with pytest.raises(ClassroomError, match="others may read it"):
            tls.check("0.0.0.0", None, str(cert), str(key), False)
    with pytest.raises(ClassroomError, match="--tls-cert .*nothing.pem: no such file"):
        tls.check("0.0.0.0", None, str(tmp_path / "nothing.pem"), str(key), False)


def test_a_self_signed_certificate_names_this_server_and_keeps_its_key_private(tmp_path):
    import subprocess
    folder = tmp_path / "tls"
    cert, key = tls.self_signed(folder, "192.0.2.77")
    assert (folder.stat().st_mode & 0o777, key.stat().st_mode & 0o777) == (0o700, 0o600)
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    for name in ("DNS:localhost", "IP Address:127.0.0.1", "IP Address:192.0.2.77"):
        assert name in text, text
    first = cert.read_bytes()
    assert tls.self_signed(folder, "192.0.2.77") == (cert, key) and cert.read_bytes() == first  # kept
