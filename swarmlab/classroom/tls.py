"""How the classroom is served to the students' laptops: the listen address and TLS.

Students type their Unix password on the hub's login page, so plain http is allowed only where no
network carries it: on a loopback address, or when the teacher says so (--insecure-http). The
certificate is the teacher's (a university's, Let's Encrypt's via certbot) or one `setup` makes
(`--tls self-signed`) for this server's name and addresses. JupyterHub's own ssl_cert/ssl_key
hand both to its proxy, which serves https on the listen address.
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

from ..errors import ClassroomError

SELF_SIGNED = "self-signed"
WILDCARDS = ("0.0.0.0", "::", "")
DAYS = 825  # the longest validity browsers accept for a server certificate


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check(listen: str, tls: str | None, cert: str | None, key: str | None, insecure_http: bool) -> None:
    """Refuse, in one line and before anything is made, a way of serving that would expose passwords."""
    if tls is not None and tls != SELF_SIGNED:
        raise ClassroomError(f"--tls {tls}: the one value is --tls {SELF_SIGNED} (or give --tls-cert and --tls-key)")
    if tls and (cert or key):
        raise ClassroomError("--tls self-signed makes its own certificate: give it, or --tls-cert/--tls-key, not both")
    if bool(cert) != bool(key):
        raise ClassroomError("--tls-cert and --tls-key go together: give both files (the certificate and its key)")
    if (tls or cert) and insecure_http:
        raise ClassroomError("--insecure-http serves plain http: give it, or a certificate, not both")
    if cert:
        check_files(Path(cert), Path(key))
    if not (tls or cert or insecure_http or is_loopback(listen)):
        raise ClassroomError(f"--listen {listen} with plain http would send students' passwords across the network "
                             f"in the clear: add --tls-cert FILE --tls-key FILE (or --tls self-signed), or "
                             f"--insecure-http if you mean it")


def check_files(cert: Path, key: Path) -> None:
    for what, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not path.is_file():
            raise ClassroomError(f"{what} {path}: no such file")
    info = key.stat()  # through a link, as certbot's live/ folder has them
    if info.st_uid != 0 or info.st_mode & 0o077:
        raise ClassroomError(f"--tls-key {key}: others may read it (owner uid {info.st_uid}, mode "
                             f"{oct(info.st_mode & 0o777)}): `chown root {key} && chmod 600 {key}` first")


def names() -> tuple[list[str], list[str]]:
    """This server's DNS names and IP addresses, for a self-signed certificate."""
    dns = []
    for name in (socket.gethostname(), socket.getfqdn(), "localhost"):
        if name and name not in dns:
            dns.append(name)
    ips = ["127.0.0.1", "::1"]
    done = subprocess.run(["ip", "-j", "address", "show"], capture_output=True, text=True)
    try:
        for link in json.loads(done.stdout or "[]"):
            for addr in link.get("addr_info", []):
                if addr.get("scope") == "global" and addr["local"] not in ips:
                    ips.append(addr["local"])
    except (ValueError, KeyError):
        pass
    return dns, ips


def self_signed(folder: Path, listen: str) -> tuple[Path, Path]:
    """A certificate for this server's names and addresses (and `listen`), with openssl; its key 0600.
    One made by an earlier setup of this classroom is kept (remove DIR/tls for a new one)."""
    if not shutil.which("openssl"):
        raise ClassroomError("--tls self-signed makes its certificate with openssl, which is missing: "
                             "`apt-get install openssl`")
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key  # a second setup keeps the certificate the students already trust
    dns, ips = names()
    if listen not in WILDCARDS and listen not in ips and listen not in dns:
        (ips if _is_ip(listen) else dns).append(listen)
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    key.unlink(missing_ok=True)
    os.close(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # openssl writes into it, 0600 from the start
    alt = ",".join([f"DNS:{n}" for n in dns] + [f"IP:{a}" for a in ips])
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", str(DAYS), "-subj", f"/CN={dns[0]}", "-keyout", str(key), "-out", str(cert),
         "-addext", f"subjectAltName={alt}", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
         "-addext", "extendedKeyUsage=serverAuth"], capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClassroomError(f"openssl could not make the self-signed certificate ({said})")
    key.chmod(0o600)
    cert.chmod(0o644)
    return cert, key


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
