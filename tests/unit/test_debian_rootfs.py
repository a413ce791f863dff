"""swarmlab.lab.docker.debian: which Debian release gives which Docker, the mmdebstrap command,
and the node's root file system made from a cached one (a small real tar, the host's busybox)."""
from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from swarmlab.errors import LabError
from swarmlab.lab.docker import debian


def test_each_docker_comes_from_the_debian_release_that_ships_it():
    assert {d: debian.release(d).suite for d in ("20", "26", "28")} == {"20": "bookworm", "26": "trixie", "28": "sid"}
    assert debian.release("28.5").docker == debian.release(28).docker == "28"


def test_a_docker_no_release_ships_is_refused_naming_the_choices():
    with pytest.raises(LabError, match=r"no node image for Docker 27: choose 20 \(Docker 20.10 .*26 .*28 "):
        debian.release("27")


def test_the_cli_is_its_own_package_from_26_on_and_the_tar_goes_to_stdout():
    def included(docker):
        command = debian.mmdebstrap_command(debian.release(docker))
        return command, next(a for a in command if a.startswith("--include=")).split("=", 1)[1].split(",")
    (old, old_packages), (new, new_packages) = included("20"), included("28")
    assert "docker-cli" in new_packages and "docker-cli" not in old_packages
    assert {"docker.io", "containerd", "runc", "openssh-server"} <= set(old_packages) & set(new_packages)
    assert new[-2:] == ["sid", "-"] and old[-2:] == ["bookworm", "-"]


def test_the_cache_is_swarmlab_rootfs_else_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SWARMLAB_ROOTFS", str(tmp_path / "fs"))
    assert debian.rootfs_path(debian.release("28")) == tmp_path / "fs" / "debian-sid-docker28.tar"
    monkeypatch.delenv("SWARMLAB_ROOTFS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert debian.rootfs_cache() == tmp_path / "cache" / "swarmlab" / "rootfs"


def _base(tmp_path: Path) -> Path:
    """A root file system with a real static busybox, a real awk and dpkg's status for docker.io."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("this test runs the host's static busybox: install busybox-static (`make install`)")
    base = tmp_path / "base.tar"
    with tarfile.open(base, "w") as tar:
        tar.add(busybox, "usr/bin/busybox")
        tar.add(busybox, "usr/bin/awk")
        status = b"Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2+dfsg4-5\n\n"
        info = tarfile.TarInfo("./var/lib/dpkg/status")
        info.size = len(status)
        tar.addfile(info, io.BytesIO(status))
    return base


def test_the_node_tar_adds_the_scripts_and_only_the_applets_the_packages_lack(tmp_path):
    script = tmp_path / "swarmlab-node-init"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o600)
    out = tmp_path / "node.tar"
    with open(out, "wb") as f:
        debian.node_tar(_base(tmp_path), f, [script])
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar}
    assert members["usr/local/sbin/swarmlab-node-init"].mode == 0o755
    assert members["usr/local/sbin/service"].linkname == "systemctl"
    assert members["usr/share/swarmlab/busybox"].linkname == "/usr/bin/busybox"
    assert "usr/local/bin/awk" not in members  # the package's own awk stays the one on PATH
    assert members["usr/local/bin/sed"].linkname == debian.BUSYBOX
    assert "usr/bin/awk" in members and "./var/lib/dpkg/status" in members


def test_the_docker_version_is_read_from_dpkg_s_status(tmp_path):
    assert debian.docker_version_in(_base(tmp_path)) == "28.5.2+dfsg4-5"


def test_the_dockerfile_installs_the_offline_build_s_packages_on_the_same_release():
    from swarmlab.lab.docker import nodeimage
    dockerfile = (nodeimage.NODE_FILES / "Dockerfile").read_text()
    assert "FROM debian:${DEBIAN}" in dockerfile and "apt-get install" in dockerfile and "$PACKAGES" in dockerfile
    assert nodeimage.dockerfile_buildargs(None) == {"DEBIAN": "bookworm",
                                                    "PACKAGES": " ".join(debian.packages(debian.release("20")))}
    args28 = nodeimage.dockerfile_buildargs("28")
    assert args28["DEBIAN"] == "sid" and args28["PACKAGES"].split() == debian.packages(debian.release("28"))
    # Every node script the offline build puts in /usr/local/sbin, the Dockerfile copies too.
    assert all(script in dockerfile for script in nodeimage.SCRIPTS) and "systemctl" in dockerfile
