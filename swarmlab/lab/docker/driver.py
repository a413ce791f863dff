"""The docker driver: each node a container running its own dockerd, on a Docker engine.

The engine and what it grants a node: engine.py; a node: node.py; the image it runs:
nodeimage.py. Every object the lab creates on the engine (containers, network,
volumes) carries the labels io.swarmlab.lab=<name> and io.swarmlab.lab.id=<id>, and who
made it: io.swarmlab.owner=<user>@<host> and io.swarmlab.owner.uid=<uid>. `down` removes
exactly those, and only when they are its caller's (an engine is often shared: a class, a
server), or with --force. A node container may do anything root may do on the engine's
host: it runs dockerd, which needs (nearly) every capability.
"""
from __future__ import annotations

import ipaddress
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from ...errors import LabError, LabNotYoursError
from .. import image
from ..driver import Driver, SSHConnector, Usability
from ..ownership import Owner, caller, name_for, state_root
from ..spec import MAX_LAB_NAME, LabSpec, NodeSpec
from . import nodeimage, sshd
from .engine import (EXPLICIT, EXPLICIT_OPTIONS, EXPLICIT_PATHS, LABEL_ID, LABEL_LAB, LABEL_NODE, LABEL_PRIVILEGES,
                     LABEL_SPEC, PRIVILEGED, cgroup_version, connect, engine_url, known_privileges, network_name,
                     owner_labels, owner_of, privileges_file, privileges_note, remember_privileges, volume_name)
from .node import ContainerNode


class DockerDriver(Driver):
    """Makes lab nodes as containers on a Docker engine (no root needed on this machine)."""

    name = "docker"
    node_class = ContainerNode
    transport = "docker-exec"  # swarmlab.transport registry
    local_needs_root = False  # whoever may use the engine reaches the nodes through it
    sshd = True  # each node container runs sshd (when its image has one), reached through the engine
    on_engine = True  # --engine, else DOCKER_HOST, the docker context or the local socket (engine_url)
    # runs_here and switch_in_reach stay False: the engine may be another machine, and
    # the lab's switch is the engine's bridge.
    no_sshd_hint = ("its node image has no sshd: install openssh-server on the machine that builds it, then "
                    "`swarmlab lab image --rebuild`")

    def __init__(self, lab_name: str, state_dir: Path, engine: str | None = None,
                 default_route: bool = False, privileges: str | None = None, docker: str | None = None):
        super().__init__(lab_name, state_dir)
        self.url = engine_url(engine)
        self.default_route = default_route
        # The nodes' Docker ("28": Debian sid's, nodeimage.py); None: the default node image's.
        self.docker = nodeimage.debian.release(docker).docker if docker else None
        self.privileges = privileges  # chosen at up: PRIVILEGED, or EXPLICIT when the engine refuses it
        self._client = None

    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect(self.url)
        return self._client

    def reach(self) -> None:
        """Raise a one-line LabError when the engine does not answer."""
        self.client()

    def describe(self) -> str:
        how = f", {self.privileges}" if self.privileges else ""
        which = f", nodes on {nodeimage.debian.release(self.docker).describe()}" if self.docker else ""
        return f"containers on the Docker engine at {self.url}{how}{which}"

    def state(self) -> dict:
        return {"engine": self.url, "driver_options": {"default_route": self.default_route,
                                                        "privileges": self.privileges, "docker": self.docker}}

    @classmethod
    def make(cls, lab_name: str, engine: str | None = None, **options) -> "DockerDriver":
        return cls(lab_name, state_root() / lab_name, engine=engine, **options)

    @classmethod
    def usable_here(cls) -> Usability:
        try:
            connect(timeout=10).close()
        except LabError as exc:
            return Usability(False, str(exc).split(";")[0])
        return Usability(True, f"a Docker engine answers ({engine_url()}): the nodes are containers there")

    def make_node(self, spec: NodeSpec) -> ContainerNode:
        return self.node_class(self, spec)

    def ssh_connector(self, lab) -> SSHConnector:
        """How an SSH client here reaches a node's sshd: through that node, by the engine's
        exec API (its address is on the engine's network, which this machine may not route to:
        Docker Desktop, a remote engine)."""
        by_address = {n.address: n for n in lab.nodes.values()}

        def connect(address: str, port: int, timeout: float):
            if address not in by_address:
                raise LabError(f"{address} is no node of lab {lab.name}")
            return by_address[address].tunnel(address, port, timeout)
        return connect

    # --- up --------------------------------------------------------------------------
    def preflight(self, lab) -> None:
        client = self.client()
        taken = objects(client, lab.name)
        if any(taken.values()):
            others = not_mine(taken)
            if others:  # never a hint that would remove someone else's lab
                raise LabNotYoursError(
                    f"a lab named {lab.name!r} is already on the Docker engine at {self.url}: the docker lab "
                    f"of {_whom(others)}, not yours ({caller()}); choose another name for yours, e.g. "
                    f"--name {name_for(lab.name, caller(), MAX_LAB_NAME)}")
            raise LabError(f"a lab named {lab.name!r} of yours is already on the Docker engine at {self.url}; "
                           f"take it down with `swarmlab lab down --name {lab.name} --engine {self.url}` or "
                           f"choose another name")
        if (self.dir / "state.json").exists():
            raise LabError(f"a lab named {lab.name!r} is recorded in {self.dir}; take it down with "
                           f"`swarmlab lab down --name {lab.name}` or choose another name")
        _check_subnet_free(client, lab.spec.subnet)

    def up(self, lab, report) -> None:
        client = self.client()
        image_ = nodeimage.ensure(client, progress=lambda line: report(line), docker=self.docker)
        report("node image")
        labels = {LABEL_LAB: lab.name, LABEL_ID: lab.id, **owner_labels(caller())}
        _check_engine_host_outside(client, image_.id, lab.spec.subnet, labels)
        report("the engine's host is outside the lab's subnet")
        network = _create_network(client, lab, labels)
        report(f"network {network.name} {lab.spec.subnet}")
        self.privileges = self._create_nodes(client, lab, image_.id, labels)
        report(f"containers ({privileges_note(self.privileges)}, cgroup v{cgroup_version(client)})")
        lab.each_node(lambda n: n.wait_docker())
        report("daemons")
        applets = " ".join(image.APPLETS)
        lab.each_node(lambda n: n.run(f"swarmlab-seed-busybox {applets}").check(
            hint=f"loading busybox:latest into {n.name}; see its /var/log/dockerd.log"))
        _copy_images(client, lab)
        report("images")
        if sshd.start(lab, nodeimage.NODE_PATH):
            report("sshd")

    def _create_nodes(self, client, lab, image_id: str, labels: dict) -> str:
        """Create and start every node, with what this engine grants: --privileged, or the
        explicit set where it refuses that. An engine not met before is asked with one node."""
        nodes = list(lab.nodes.values())

        def create_all(todo, privileges):
            def create(node):
                try:
                    _create_node(client, lab, node, image_id, labels, privileges, self.default_route)
                except docker.errors.APIError as exc:
                    raise _node_error(node, exc) from exc
            with ThreadPoolExecutor(max_workers=max(1, min(8, len(todo)))) as pool:
                for fut in [pool.submit(create, n) for n in todo]:
                    fut.result()
        remembered = privileges_file()
        choice = self.privileges or known_privileges(client, remembered)
        trial = choice is None
        choice = choice or PRIVILEGED
        first = nodes[:1] if trial else nodes
        try:
            create_all(first, choice)
        except LabError as exc:
            if choice != PRIVILEGED or "operation not permitted" not in str(exc):
                raise
            # This engine's host cannot grant every capability (e.g. a bounding set without
            # CAP_SYS_RESOURCE): the explicit set dockerd needs works there.
            _remove_containers(client, {LABEL_ID: lab.id})
            choice = EXPLICIT
            create_all(first, choice)
        if trial:
            create_all(nodes[1:], choice)
        remember_privileges(client, choice, remembered)
        return choice

    # --- down ------------------------------------------------------------------------
    def teardown(self, name: str, lab_id: str | None = None, force: bool = False) -> bool:
        self.forced = teardown(name, self.url, lab_id=lab_id, state_dir=self.dir, force=force)
        return bool(self.forced)  # else the engine does not say whether there was anything: the state file does

    def leftovers(self, name: str) -> list[str]:
        found = leftovers(name, self.url)
        if self.dir.exists():
            found.append(f"state folder {self.dir}")
        return found

    def forget(self, name: str) -> None:
        """Only for an engine gone for good: one that answers still runs the lab's containers,
        and without this record a plain `lab down` (as root: the namespaces driver) would not find them."""
        try:
            connect(self.url, timeout=10).close()
        except LabError:
            _remove_state_dir(self.dir)
            return
        url = engine_url(self.url)
        raise LabError(f"the engine of lab {name} answers ({url}): its containers are still there, so this "
                       f"machine's record of them stays; remove them with "
                       f"`swarmlab lab down --name {name} --engine {url}` (--forget is for an engine gone for good)")

    @classmethod
    def state_elsewhere(cls, name: str, engine: str | None) -> dict | None:
        return spec_on_engine(name, engine)


def _check_subnet_free(client, subnet: str) -> None:
    wanted = ipaddress.IPv4Network(subnet)
    for net in client.networks.list():
        for config in (net.attrs.get("IPAM") or {}).get("Config") or []:
            try:
                theirs = ipaddress.ip_network(config.get("Subnet", ""), strict=False)
            except ValueError:
                continue
            if theirs.version == 4 and theirs.overlaps(wanted):
                raise LabError(f"subnet {subnet} is taken on the engine by network {net.name!r} ({theirs}); "
                               f"choose another, e.g. --subnet {_suggest_subnet(client, wanted)}")


def engine_host_addresses(client, image_id: str, labels: dict) -> list[tuple[str, ipaddress.IPv4Interface]]:
    """(interface, address) of each IPv4 address of the engine's own host, as a throwaway
    container in the host's network sees them: the engine may run in a VM (Docker Desktop's)
    or on another machine, whose addresses this one cannot list."""
    out = client.containers.run(image_id, ["ip", "-o", "-4", "addr", "show"], entrypoint=[], network_mode="host",
                                environment=[f"PATH={nodeimage.NODE_PATH}"], labels=labels, remove=True)
    fields = [line.split() for line in out.decode(errors="replace").splitlines()]
    return [(f[1], ipaddress.IPv4Interface(f[3])) for f in fields if len(f) > 3 and f[2] == "inet"]


def _check_engine_host_outside(client, image_id: str, subnet: str, labels: dict) -> None:
    """The engine's host answers ARP for its own addresses on the lab's network too: a node's
    address that is also the host's then reaches the host, and every join to it times out
    ("failed to retrieve remote root CA certificate ... deadline exceeded")."""
    wanted = ipaddress.IPv4Network(subnet)
    inside = [(name, iface) for name, iface in engine_host_addresses(client, image_id, labels)
              if iface.ip in wanted]
    if inside:
        name, iface = inside[0]
        raise LabError(f"the Docker engine's own host has {iface.ip} (on {name}) inside the lab's subnet "
                       f"{subnet}: the nodes would reach the host at that address, and joins to it time out; "
                       f"choose another subnet, e.g. --subnet {_suggest_subnet(client, wanted)}")


def _suggest_subnet(client, wanted: ipaddress.IPv4Network) -> str:
    used = [ipaddress.ip_network(c["Subnet"], strict=False) for n in client.networks.list()
            for c in (n.attrs.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]
    candidate = wanted
    for _ in range(256):
        candidate = ipaddress.IPv4Network((int(candidate.network_address) + candidate.num_addresses,
                                           candidate.prefixlen))
        if not any(u.version == 4 and u.overlaps(candidate) for u in used):
            return str(candidate)
    return "another private /24"


def _gateway(spec: LabSpec) -> str:
    """The engine's address on the lab network: the last host address no node uses."""
    used = {n.address for n in spec.nodes}
    for address in reversed(list(ipaddress.IPv4Network(spec.subnet).hosts())):
        if str(address) not in used:
            return str(address)
    raise LabError(f"subnet {spec.subnet} has no address left for the engine's gateway; use a larger subnet")


def _create_network(client, lab, labels: dict):
    spec = {"name": lab.name, "subnet": lab.spec.subnet, "nodes": [vars(n) for n in lab.spec.nodes]}
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=lab.spec.subnet,
                                                                        gateway=_gateway(lab.spec))])
    try:
        return client.networks.create(network_name(lab.name), driver="bridge", ipam=ipam,
                                      labels={**labels, LABEL_SPEC: json.dumps(spec)})
    except docker.errors.APIError as exc:
        raise LabError(f"the engine could not create network {network_name(lab.name)} ({lab.spec.subnet}): "
                       f"{exc.explanation}; choose another --subnet") from None


def _create_node(client, lab, node: ContainerNode, image_id: str, labels: dict, privileges: str,
                 default_route: bool) -> None:
    api = client.api
    node_labels = {**labels, LABEL_NODE: node.name, LABEL_PRIVILEGES: privileges}
    volume = client.volumes.create(volume_name(lab.name, node.name), labels=node_labels)
    binds = {volume.name: {"bind": "/var/lib/docker", "mode": "rw"}}
    options = {"privileged": True} if privileges == PRIVILEGED else dict(EXPLICIT_OPTIONS)
    if privileges == EXPLICIT and cgroup_version(client) == "1":
        # cgroup v1 has no cgroup namespace: the node needs the engine's tree writable
        # (its dockerd puts its containers below the node's own cgroup).
        binds["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "rw"}
    host_config = api.create_host_config(binds=binds, tmpfs={"/run": "", "/tmp": ""},
                                         network_mode=network_name(lab.name), init=False, **options)
    if privileges == EXPLICIT:
        host_config.update(EXPLICIT_PATHS)
    networking = api.create_networking_config({network_name(lab.name): api.create_endpoint_config(
        ipv4_address=node.address)})
    container = api.create_container(
        image_id, name=node.container, hostname=node.name, labels=node_labels, host_config=host_config,
        networking_config=networking, detach=True,
        environment={"SWARMLAB_NIC": node.spec.nic, "SWARMLAB_DEFAULT_ROUTE": "1" if default_route else "0"})
    api.start(container["Id"])


def _node_error(node, exc) -> LabError:
    return LabError(f"the engine could not start node {node.name}: {' '.join(str(exc.explanation).split())[:300]}")


def _copy_images(client, lab) -> None:
    """Images the lab asked for (images=...), copied from the engine into every node."""
    for name in lab.images:
        try:
            archive = b"".join(client.images.get(name).save(named=True))
        except docker.errors.ImageNotFound:
            raise LabError(f"image {name!r} is not on the engine at {lab.driver.url}; `docker pull {name}` "
                           f"there first, or leave it out") from None
        lab.each_node(lambda n: image.load_into(n, name, archive))


# --- what a lab left on the engine ---------------------------------------------------
def objects(client, name: str, lab_id: str | None = None) -> dict[str, list]:
    """The lab's containers, networks and volumes on the engine, found by their labels."""
    filters = {"label": [f"{LABEL_LAB}={name}"] + ([f"{LABEL_ID}={lab_id}"] if lab_id else [])}
    # ignore_removed: a container may go between the list and its inspection (the engine drops
    # one whose create was cut short by a killed `up`): gone is what teardown wants anyway.
    return {"containers": client.containers.list(all=True, filters=filters, ignore_removed=True),
            "networks": client.networks.list(filters=filters),
            "volumes": client.volumes.list(filters=filters)}


_UNKNOWN = Owner("someone", "unknown", None)  # objects made before swarmlab recorded who made them


def _labels(obj) -> dict:
    return (obj.attrs.get("Config") or {}).get("Labels") or obj.attrs.get("Labels") or {}


def not_mine(found: dict[str, list], lab_id: str | None = None) -> list[Owner]:
    """Who, other than the caller, made objects among `found` (objects()). An object that
    records no owner (made before swarmlab recorded it) is the caller's only when it carries
    the id of the caller's own record (`lab_id`)."""
    me, others = caller(), set()
    for items in found.values():
        for obj in items:
            labels = _labels(obj)
            owner = owner_of(labels)
            if owner == me or (owner is None and lab_id and labels.get(LABEL_ID) == lab_id):
                continue
            others.add(owner or _UNKNOWN)
    return sorted(others, key=str)


def _whom(owners: list[Owner]) -> str:
    return " and ".join("an unknown user (it records no owner)" if o == _UNKNOWN else str(o) for o in owners)


def _remove_containers(client, labels: dict) -> None:
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    containers = client.containers.list(all=True, filters=filters, ignore_removed=True)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(containers)))) as pool:
        list(pool.map(lambda c: _remove_quietly(c.remove, force=True, v=True), containers))


def _disconnect_strangers(network) -> None:
    """Containers that are not the lab's but were connected to its network (`docker network
    connect`) are disconnected: the network is the lab's and goes with it (the engine refuses to
    remove a network with endpoints, 403); the containers themselves are left running."""
    try:
        network.reload()
    except docker.errors.NotFound:
        return
    for container_id in network.attrs.get("Containers") or {}:
        _remove_quietly(network.disconnect, container=container_id, force=True)


def _remove_quietly(remove, **kw) -> None:
    try:
        remove(**kw)
    except docker.errors.NotFound:
        pass  # gone already: down runs twice, or races another down


def teardown(name: str, engine: str | None, lab_id: str | None = None, state_dir: Path | None = None,
             force: bool = False) -> list[Owner]:
    """Remove every object labelled with the lab's name (and id, when known) from the engine,
    when they are all the caller's: another user's lab of that name (an engine is often
    shared) is left alone with a LabNotYoursError, unless `force`. Returns the other users
    whose objects `force` removed. Works twice, and after the process that built the lab was killed."""
    try:
        client = connect(engine)
    except LabError as exc:
        # The record stays: it is how `down` finds the lab's containers once the engine is back.
        raise LabError(f"{exc}; lab {name}'s containers there were not removed. If that engine is gone "
                       f"for good, `swarmlab lab down --name {name} --forget` removes only this "
                       "machine's record of the lab") from None
    others = not_mine(objects(client, name, lab_id), lab_id)
    if others and not force:
        raise LabNotYoursError(
            f"lab {name} on the Docker engine at {engine_url(engine)} is the docker lab of {_whom(others)}, "
            f"not yours ({caller()}): left alone, nothing taken down; only its owner takes it down")
    labels = {LABEL_LAB: name, **({LABEL_ID: lab_id} if lab_id else {})}
    _remove_containers(client, labels)  # force: SIGKILL, so a `sleep` ignoring SIGTERM costs nothing
    found = objects(client, name, lab_id)
    for network in found["networks"]:
        _disconnect_strangers(network)
        _remove_quietly(network.remove)
    for volume in found["volumes"]:
        _remove_quietly(volume.remove, force=True)
    left = leftovers(name, engine, lab_id, client)
    if left:
        raise LabError(f"lab {name} did not go away completely from {engine_url(engine)}: {'; '.join(left)}")
    if state_dir is not None:
        _remove_state_dir(state_dir)
    return others


def _remove_state_dir(state_dir: Path) -> None:
    shutil.rmtree(state_dir, ignore_errors=True)
    try:
        state_dir.parent.rmdir()  # the last lab's record gone: no empty folder left either
    except OSError:
        pass


def leftovers(name: str, engine: str | None, lab_id: str | None = None, client=None) -> list[str]:
    """The lab's objects still on the engine (empty when clean)."""
    found = objects(client or connect(engine), name, lab_id)
    return [f"{kind} {sorted(getattr(o, 'name', o.id) for o in items)}" for kind, items in found.items() if items]


def spec_on_engine(name: str, engine: str | None) -> dict | None:
    """The lab's state as the engine holds it (its network's labels), for a lab with no state file."""
    client = connect(engine)
    for net in client.networks.list(filters={"label": f"{LABEL_LAB}={name}"}):
        labels = net.attrs["Labels"]
        owner = owner_of(labels)
        return {**json.loads(labels[LABEL_SPEC]), "id": labels.get(LABEL_ID, ""), "driver": "docker",
                "engine": engine_url(engine), **({"owner": owner.login, "owner_uid": owner.uid} if owner else {})}
    return None
