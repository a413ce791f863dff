"""Inventories: the real hosts of a swarm, described in a TOML or YAML file.

The format is documented in docs/inventory.md. Every problem is reported with the
file, the host and the field, and what to write instead.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import InventoryError

SUFFIXES = (".toml", ".yaml", ".yml")
ROLES = ("manager", "worker")
HOST_FIELDS = ("address", "user", "port", "key", "role", "sudo")
TOP_FIELDS = ("hosts", "defaults", "known_hosts", "trust_on_first_use")
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # whole names only: fullmatch


@dataclass(frozen=True)
class Host:
    """One machine of the inventory."""

    name: str
    address: str
    user: str | None = None  # None: the local user name, as ssh(1) does
    port: int = 22
    key: Path | None = None  # None: the SSH agent and ~/.ssh keys, as ssh(1) does
    role: str = ""           # "manager", "worker", or "" when not said
    sudo: bool = False       # run commands through `sudo -n`


@dataclass(frozen=True)
class Inventory:
    path: Path
    hosts: tuple[Host, ...]
    known_hosts: Path | None = None  # None: ~/.ssh/known_hosts
    trust_on_first_use: bool = False

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise InventoryError(f"{self.path}: no host {name!r}; its hosts are {', '.join(h.name for h in self.hosts)}")


def is_inventory_path(target) -> bool:
    return str(target).lower().endswith(SUFFIXES)


def load_inventory(path: str | Path) -> Inventory:
    """Read and check an inventory file (.toml, .yaml or .yml)."""
    path = Path(path).expanduser()
    data = _read(path)
    return _build(path, data)


# --- reading ------------------------------------------------------------------------
def _read(path: Path) -> dict:
    if not path.is_file():
        raise InventoryError(f"inventory {path} not found; give the path of a .toml or .yaml file "
                             f"(format: docs/inventory.md)")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InventoryError(f"inventory {path}: unknown file type {suffix!r}; use .toml, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"inventory {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    data = _parse_toml(path, text) if suffix == ".toml" else _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise InventoryError(f"inventory {path}: expected a table with `hosts` at the top, "
                             f"found {type(data).__name__}")
    return data


def _parse_toml(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        twice = re.search(r"Cannot declare \('hosts', '([^']*)'\) twice", str(exc))
        if twice:
            raise InventoryError(f"inventory {path}: duplicate host name {twice.group(1)!r} "
                                 f"({exc}); give every host its own name") from None
        raise InventoryError(f"inventory {path}: not valid TOML: {exc}") from None


def _parse_yaml(path: Path, text: str):
    class StrictLoader(yaml.SafeLoader):
        """A YAML loader that refuses a key given twice (plain YAML keeps the last one)."""

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise InventoryError(f"inventory {path}: duplicate name {key!r} at line {key_node.start_mark.line + 1}; "
                                     f"give every host (and every field) once")
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise InventoryError(f"inventory {path}: not valid YAML: {' '.join(str(exc).split())}") from None


# --- checking -----------------------------------------------------------------------
def _build(path: Path, data: dict) -> Inventory:
    _no_unknown(path, "the top level", data, TOP_FIELDS)
    entries = _host_entries(path, data.get("hosts"))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise InventoryError(f"inventory {path}: `defaults` must be a table of host fields")
    _no_unknown(path, "defaults", defaults, tuple(f for f in HOST_FIELDS if f != "address"))
    hosts = tuple(_host(path, name, fields, defaults) for name, fields in entries)
    known_hosts = data.get("known_hosts")
    if known_hosts is not None and (not isinstance(known_hosts, str) or not known_hosts):
        raise InventoryError(f"inventory {path}: known_hosts must be a file path, got {known_hosts!r}")
    tofu = data.get("trust_on_first_use", False)
    if not isinstance(tofu, bool):
        raise InventoryError(f"inventory {path}: trust_on_first_use must be true or false, got {tofu!r}")
    return Inventory(path=path, hosts=hosts, trust_on_first_use=tofu,
                     known_hosts=_resolve(path, known_hosts) if known_hosts else None)


def _host_entries(path: Path, hosts) -> list[tuple[str, dict]]:
    """(name, fields) per host, from a table of hosts by name or a list with `name` in each."""
    if isinstance(hosts, dict):
        entries = list(hosts.items())
    elif isinstance(hosts, list):
        entries = []
        for i, item in enumerate(hosts, 1):
            if not isinstance(item, dict) or "name" not in item:
                raise InventoryError(f"inventory {path}: host #{i} has no `name`; give each host a name")
            fields = dict(item)
            entries.append((fields.pop("name"), fields))
    else:
        raise InventoryError(f"inventory {path}: no hosts; add a `hosts` table with one entry per host "
                             f"(format: docs/inventory.md)")
    if not entries:
        raise InventoryError(f"inventory {path}: `hosts` is empty; add at least one host")
    names = [str(name) for name, _ in entries]
    for name in names:
        if names.count(name) > 1:
            raise InventoryError(f"inventory {path}: duplicate host name {name!r}; give every host its own name")
    return entries


def _host(path: Path, name, fields, defaults: dict) -> Host:
    where = f"inventory {path}: host {name!r}"
    if not isinstance(name, str) or not _HOST_NAME.fullmatch(name):
        raise InventoryError(f"{where}: bad name; use letters, digits, '.', '-' or '_'")
    if not isinstance(fields, dict):
        raise InventoryError(f"{where}: expected a table of fields ({', '.join(HOST_FIELDS)}), got {fields!r}")
    _no_unknown(path, f"host {name!r}", fields, HOST_FIELDS)
    fields = {**defaults, **fields}
    address = fields.get("address")
    if not isinstance(address, str) or not address.strip():
        raise InventoryError(f"{where}: field `address` is missing; give the host's IP address or DNS name")
    user = fields.get("user")
    if user is not None and (not isinstance(user, str) or not user):
        raise InventoryError(f"{where}: field `user` must be a user name, got {user!r}")
    port = fields.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InventoryError(f"{where}: field `port` must be a whole number from 1 to 65535, got {port!r}")
    role = fields.get("role", "")
    if role not in ROLES + ("",):
        raise InventoryError(f"{where}: field `role` is {role!r}; use \"manager\" or \"worker\"")
    sudo = fields.get("sudo", False)
    if not isinstance(sudo, bool):
        raise InventoryError(f"{where}: field `sudo` must be true or false, got {sudo!r}")
    return Host(name=name, address=address.strip(), user=user, port=port, key=_key(path, where, fields.get("key")),
                role=role, sudo=sudo)


def _key(path: Path, where: str, key) -> Path | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        raise InventoryError(f"{where}: field `key` must be the path of a private key file, got {key!r}")
    resolved = _resolve(path, key)
    if not resolved.is_file():
        raise InventoryError(f"{where}: field `key`: file {resolved} not found; "
                             f"relative paths start at the inventory's folder")
    return resolved


def _no_unknown(path: Path, where: str, fields: dict, allowed: tuple[str, ...]) -> None:
    for field in fields:
        if field not in allowed:
            raise InventoryError(f"inventory {path}: {where}: unknown field {field!r}; "
                                 f"the fields are {', '.join(allowed)}")


def _resolve(inventory: Path, value: str) -> Path:
    """A path from the file: ~ is the home folder, relative paths start at the file's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (inventory.parent / p).resolve()
