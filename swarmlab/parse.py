"""Turn what docker, ifconfig, brctl and ip print into pandas DataFrames.

Outputs often reach us second-hand: copied from a web page, runs of spaces
collapse to one and tabs vanish. The text parsers read the real layout and
that collapsed one, and raise ParseError naming the line rather than guess.
"""

from __future__ import annotations

import json
import re
import shlex
from itertools import combinations
from typing import Callable

import pandas as pd

from .errors import ParseError

__all__ = [
    "ParseError",
    "docker_table",
    "docker_json_lines",
    "network_inspect",
    "network_containers",
    "brctl_show",
    "ifconfig",
    "ip_json",
    "ip_addr",
    "ip_link",
    "ip_route",
    "ip_brief_link",
    "tasks_from_json",
    "TASK_COLUMNS",
    "parser_for",
]


def _lines(text: str):
    """(line number, line) for every non-blank line, trailing blanks cut."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield n, line.rstrip()


# --------------------------------------------------------------------------
# docker CLI tables

# Header names that contain a space; a collapsed header is split on single
# spaces, so these word pairs have to be glued back together.
_MULTIWORD = {
    "NETWORK ID", "CONTAINER ID", "IMAGE ID", "VOLUME NAME", "DESIRED STATE",
    "CURRENT STATE", "MANAGER STATUS", "ENGINE VERSION", "CREATED AT",
}

# docker's units.HumanDuration; service ps lower-cases it, ps/images do not.
_DURATION = (
    r"(?i:less than a second|about an? (?:minute|hour)"
    r"|\d+ (?:second|minute|hour|day|week|month|year)s?)"
)
_QUOTED = r'"(?:[^"\\]|\\.)*"'  # docker prints COMMAND and ERROR via strconv.Quote
_PORT = r"[^\s,]+/(?:tcp|udp|sctp)"
_WORD = r"\S+"

# What a cell of each known column looks like. In a collapsed line these
# shapes are the only way to tell where one cell ends and the next begins.
_SHAPES = {
    "NETWORK ID": r"[0-9a-z]{12}|[0-9a-z]{25}|[0-9a-f]{64}",
    "CONTAINER ID": r"[0-9a-f]{12}|[0-9a-f]{64}",
    "IMAGE ID": r"(?:sha256:)?(?:[0-9a-f]{64}|[0-9a-f]{12})",
    # swarm IDs: 12 truncated or 25 base36; node ls marks the local node " *"
    "ID": r"(?:[0-9a-z]{25}|[0-9a-z]{12})(?: \*)?",
    "NAME": r"(?:\\_ )?\S+",  # service ps shows earlier attempts as "\_ name"
    "SCOPE": r"local|swarm|global",
    "STATUS": (
        rf"Up {_DURATION}(?: \((?:healthy|unhealthy|health: starting|Paused)\))?"
        rf"|(?:Exited|Restarting) \(-?\d+\) {_DURATION} ago"
        r"|Created|Dead|Removal In Progress"
        r"|Ready|Down|Unknown|Disconnected"  # node ls
    ),
    "CREATED": rf"{_DURATION} ago|N/A",
    "COMMAND": _QUOTED,
    "ERROR": rf"{_QUOTED}|\S.*?",  # bare text too, should a version not quote it
    "PORTS": rf"{_PORT}(?:, {_PORT})*",
    "DESIRED STATE": r"[A-Z][a-z]+",
    "CURRENT STATE": rf"[A-Z][a-z]+ {_DURATION} ago",
    "MODE": r"replicated|global|replicated-job|global-job",
    "REPLICAS": r"\d+/\d+(?: \([^)]*\))?",
    "AVAILABILITY": r"Active|Pause|Drain",
    "MANAGER STATUS": r"Leader|Reachable|Unreachable",
    "SIZE": r"[\d.]+[kMGTP]?B(?: \(virtual [\d.]+[kMGTP]?B\))?",
    **dict.fromkeys(
        ["DRIVER", "HOSTNAME", "IMAGE", "NODE", "NAMES", "REPOSITORY", "TAG",
         "DIGEST", "VOLUME NAME", "ENGINE VERSION"],
        _WORD,
    ),
}
_MAY_BE_EMPTY = {"ERROR", "PORTS", "MANAGER STATUS", "ENGINE VERSION"}


def docker_table(text: str) -> pd.DataFrame:
    """Any `docker ... ls`/`ps` table: aligned, space-collapsed, or pasted with a shifted header.

    Pasted from a forum, a header often no longer lines up with its rows. As long
    as every cell is still set off by two or more spaces, the cells are read by
    those gaps and given to the header's columns in order; a row with fewer cells
    than columns is read only if just one choice of empty columns fits what each
    column's cells look like.
    """
    lines = list(_lines(text))
    if not lines:
        return pd.DataFrame()
    (_, header), rows = lines[0], lines[1:]
    # docker pads columns with at least 2 spaces; one space means collapsed.
    if re.search(r"\S {2,}\S", header):
        cells = _aligned_or_by_gaps(header, rows)
        names = _gap_names(header)
    else:
        names, cut = _collapsed(header)
        cells = [cut(n, line) for n, line in rows]
    return _tidy(pd.DataFrame(cells, columns=names, dtype=object))


def _aligned_or_by_gaps(header: str, rows) -> list[list[str]]:
    names, cut = _aligned(header)
    misaligned = None
    if names == _gap_names(header):
        try:
            aligned = [cut(n, line) for n, line in rows]
        except ParseError as error:
            misaligned = error
        else:
            # A shifted header can also cut a cell at a space inside it ("Failed 6 | seconds ago"):
            # then the gaps are the better reading, if they give one.
            if all(_fits(name, cell) for row in aligned for name, cell in zip(names, row) if cell):
                return aligned
            try:
                return [_by_gaps(names)(n, line) for n, line in rows]
            except ParseError:
                return aligned
    by_gaps = _by_gaps(_gap_names(header))
    cells = []
    for n, line in rows:
        try:
            cells.append(by_gaps(n, line))
        except ParseError as error:
            if misaligned is None:
                raise
            raise ParseError("docker", n, line, f"{misaligned.reason}; read by its gaps of two or more "
                                                f"spaces instead: {error.reason}") from None
    return cells


def _aligned(header: str):
    """Columns start where their header name starts."""
    found = list(re.finditer(r"\S+(?: \S+)*", header))
    names, starts = [m.group() for m in found], [m.start() for m in found]
    ends = starts[1:] + [None]

    def cut(n, line):
        for name, start in zip(names[1:], starts[1:]):
            if len(line) >= start and line[start - 1] != " ":
                raise ParseError("docker", n, line, f"text runs into column {name!r}")
        cells = [line[a:b].strip() for a, b in zip(starts, ends)]
        for name, cell in zip(names, cells):
            if not cell and name in _SHAPES and name not in _MAY_BE_EMPTY:
                raise ParseError("docker", n, line, f"column {name!r} is empty")
        return cells

    return names, cut


def _gap_names(header: str) -> list[str]:
    """The header's column names: its runs of words, split further where a run is
    several known names pasted with single spaces (e.g. 'NETWORK ID NAME')."""
    names = []
    for run in re.split(r" {2,}", header.strip()):
        split = _split_words(run.split())
        names += split if len(split) > 1 and all(name in _SHAPES for name in split) else [run]
    return names


def _split_words(words: list[str]) -> list[str]:
    names = []
    while words:
        pair = " ".join(words[:2])
        names.append(pair if pair in _MULTIWORD else words[0])
        del words[: 2 if pair in _MULTIWORD else 1]
    return names


def _may_be_empty(name: str) -> bool:
    return name in _MAY_BE_EMPTY or name not in _SHAPES


def _fits(name: str, cell: str) -> bool:
    return name not in _SHAPES or re.fullmatch(_SHAPES[name], cell) is not None


def _by_gaps(names: list[str]):
    """Cells are what runs of two or more spaces separate; the header's names, in order."""

    def cut(n, line):
        cells = re.split(r" {2,}", line.strip())
        if len(cells) > len(names):
            raise ParseError("docker", n, line, f"{len(cells)} cells for {len(names)} columns {names}: "
                                                "a cell holds two spaces in a row, so the gaps do not tell cells apart")
        layouts = []
        for empty in combinations(range(len(names)), len(names) - len(cells)):
            if not all(_may_be_empty(names[i]) for i in empty):
                continue
            filled = iter(cells)
            layout = ["" if i in empty else next(filled) for i in range(len(names))]
            if all(_fits(name, cell) for name, cell in zip(names, layout) if cell):
                layouts.append((empty, layout))
        if len(layouts) == 1:
            return layouts[0][1]
        if not layouts:
            raise ParseError("docker", n, line, f"its {len(cells)} cells {cells} fit no choice of the columns "
                                                f"{names} (a cell looks unlike its column, or two cells are "
                                                "set off by a single space)")
        choices = " or ".join("/".join(names[i] for i in empty) for empty, _ in layouts)
        raise ParseError("docker", n, line, f"ambiguous: {len(cells)} cells for {len(names)} columns, and the "
                                            f"empty one could be {choices}; paste the table with its spacing, "
                                            "or ask docker for --format '{{json .}}'")

    return cut


def _collapsed(header: str):
    """Cells found by their shape, since spacing tells nothing any more."""
    names = _split_words(header.split())
    row = re.compile(_row_pattern(names))
    known = all(name in _SHAPES for name in names)

    def cut(n, line):
        m = row.fullmatch(" ".join(line.split()))
        if m:
            return [m.group(f"c{i}") or "" for i in range(len(names))]
        # An unknown header gives no shapes to lean on: plain split or fail.
        if not known and len(line.split()) == len(names):
            return line.split()
        raise ParseError("docker", n, line, f"does not fit columns {names}")

    return names, cut


def _row_pattern(names: list[str]) -> str:
    parts = []
    for i, name in enumerate(names):
        cell = f"(?P<c{i}>{_SHAPES.get(name, _WORD)})"
        if i == 0:
            parts.append(cell)
        elif name in _MAY_BE_EMPTY:
            parts.append(f"(?: {cell})?")  # an empty cell left no trace at all
        else:
            parts.append(f" {cell}")
    return "".join(parts)


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Move docker's in-cell markers into columns of their own."""
    if "DESIRED STATE" in df and "NAME" in df:  # task tables: service/node ps
        df["history"] = df["NAME"].str.startswith("\\_ ").astype(bool)
        df["NAME"] = df["NAME"].str.removeprefix("\\_ ")
    if "MANAGER STATUS" in df and "ID" in df:  # node ls: " *" = this node
        df["self"] = df["ID"].str.endswith(" *").astype(bool)
        df["ID"] = df["ID"].str.removesuffix(" *")
    return df


def docker_json_lines(text: str) -> pd.DataFrame:
    """`--format '{{json .}}'` output: one JSON object per line."""
    records = []
    for n, line in _lines(text):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ParseError("docker --format json", n, line, e.msg) from None
        if not isinstance(record, dict):
            raise ParseError("docker --format json", n, line, "not a JSON object")
        records.append(record)
    return pd.DataFrame(records)


# --------------------------------------------------------------------------
# JSON documents: docker network inspect, ip -j


def _json_list(text: str, what: str, key: str | None = None) -> list[dict]:
    """A JSON array of objects; with key, objects that carry that key."""
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(what, e.lineno, text.splitlines()[e.lineno - 1], e.msg) from None
    first = text.strip().splitlines()[0][:120]
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ParseError(what, 1, first, "expected a JSON array of objects")
    if key and data and key not in data[0]:  # e.g. route JSON handed to ip_addr
        raise ParseError(what, 1, first, f"objects have no {key!r}")
    return data


def network_inspect(text: str) -> pd.DataFrame:
    """`docker network inspect`: one row per network."""
    data = _json_list(text, "docker network inspect", "Name")
    rows = []
    for net in data:
        ipam = ((net.get("IPAM") or {}).get("Config") or [{}])[0]
        rows.append({
            "Name": net["Name"], "Id": net.get("Id"), "Driver": net.get("Driver"),
            "Scope": net.get("Scope"), "Subnet": ipam.get("Subnet"),
            "Gateway": ipam.get("Gateway"), "Options": net.get("Options") or {},
            "Containers": len(net.get("Containers") or {}),
        })
    columns = ["Name", "Id", "Driver", "Scope", "Subnet", "Gateway", "Options", "Containers"]
    return pd.DataFrame(rows, columns=columns)


def network_containers(text: str) -> pd.DataFrame:
    """`docker network inspect`: one row per (network, container endpoint)."""
    data = _json_list(text, "docker network inspect", "Name")
    rows = [
        {"network": net["Name"], "container_id": cid, "name": ep.get("Name"),
         "endpoint_id": ep.get("EndpointID"), "mac": ep.get("MacAddress"),
         "ipv4": ep.get("IPv4Address")}
        for net in data
        for cid, ep in (net.get("Containers") or {}).items()
    ]
    columns = ["network", "container_id", "name", "endpoint_id", "mac", "ipv4"]
    return pd.DataFrame(rows, columns=columns)


_LINK_COLUMNS = ["ifindex", "ifname", "flags", "mtu", "operstate", "address", "master"]
_ADDR_COLUMNS = ["family", "local", "prefixlen", "scope", "broadcast"]
_ROUTE_COLUMNS = ["dst", "dev", "gateway", "protocol", "scope", "prefsrc"]


def ip_json(text: str) -> pd.DataFrame:
    """`ip -j addr|link|route`, recognised by the keys of its objects."""
    data = _json_list(text, "ip -j")
    if data and "addr_info" in data[0]:
        return ip_addr(text)
    if data and "dst" in data[0]:
        return ip_route(text)
    if data and "ifname" in data[0]:
        return ip_link(text)
    return pd.DataFrame(data)


def ip_addr(text: str) -> pd.DataFrame:
    """`ip -j addr`: one row per (interface, address); bare links kept once."""
    data = _json_list(text, "ip -j addr", "ifname")
    rows = []
    for link in data:
        base = {k: link.get(k) for k in _LINK_COLUMNS}
        # a link without addresses (a bridge port) still matters: keep it
        for addr in link.get("addr_info") or [{}]:
            rows.append({**base, **{k: addr.get(k) for k in _ADDR_COLUMNS}})
    columns = ["ifname", *_ADDR_COLUMNS, *(c for c in _LINK_COLUMNS if c != "ifname")]
    df = pd.DataFrame(rows, columns=columns)
    df["prefixlen"] = df["prefixlen"].astype("Int64")
    return df


def ip_link(text: str) -> pd.DataFrame:
    """`ip -j link`: one row per link, every key ip printed."""
    data = _json_list(text, "ip -j link", "ifname")
    df = pd.DataFrame(data)
    return df.reindex(columns=_LINK_COLUMNS + [c for c in df if c not in _LINK_COLUMNS])


def ip_route(text: str) -> pd.DataFrame:
    """`ip -j route`: one row per route."""
    data = _json_list(text, "ip -j route", "dst")
    df = pd.DataFrame(data)
    return df.reindex(columns=_ROUTE_COLUMNS + [c for c in df if c not in _ROUTE_COLUMNS])


_BRIEF = re.compile(
    r"(?P<name>\S+)\s+(?P<state>[A-Z_]+)\s+(?:(?P<mac>[^<\s]\S*)\s+)?"
    r"<(?P<flags>[^>]*)>"
)


def ip_brief_link(text: str) -> pd.DataFrame:
    """`ip -br link`: ifname, state, mac, flags; `veth1@if5` split."""
    rows = []
    for n, line in _lines(text):
        m = _BRIEF.fullmatch(line.strip())
        if not m:
            raise ParseError("ip -br link", n, line, "expected: name state [mac] <flags>")
        # "veth1@if5": the peer's ifindex lives in another namespace
        ifname, _, link = m["name"].partition("@")
        peer = re.fullmatch(r"if(\d+)", link)
        rows.append({"ifname": ifname, "state": m["state"], "mac": m["mac"] or "",
                     "flags": m["flags"].split(",") if m["flags"] else [],
                     "link": link, "peer_ifindex": int(peer[1]) if peer else None})
    columns = ["ifname", "state", "mac", "flags", "link", "peer_ifindex"]
    df = pd.DataFrame(rows, columns=columns)
    df["peer_ifindex"] = df["peer_ifindex"].astype("Int64")
    return df


# --------------------------------------------------------------------------
# brctl show

_BRIDGE = re.compile(
    # a collapsed copy glues the STP flag to the id: "8000.0242611d036cno"
    r"(?P<bridge>\S+)\s+(?P<id>[0-9a-f]{4}\.[0-9a-f]{12})\s*(?P<stp>yes|no)"
    r"(?:\s+(?P<interface>\S+))?"
)


def brctl_show(text: str) -> pd.DataFrame:
    """`brctl show`: one row per (bridge, interface); no interface -> ""."""
    rows = []
    for n, line in _lines(text):
        if line.split()[:2] == ["bridge", "name"]:
            continue
        m = _BRIDGE.fullmatch(line.strip())
        if m:
            rows.append({"bridge": m["bridge"], "bridge_id": m["id"],
                         "stp": m["stp"], "interface": m["interface"] or ""})
        # further ports of the bridge above: one token, indented or not
        elif len(line.split()) == 1 and rows and rows[-1]["interface"]:
            rows.append({**rows[-1], "interface": line.strip()})
        else:
            raise ParseError("brctl show", n, line,
                             "neither a bridge line nor a further interface of one")
    return pd.DataFrame(rows, columns=["bridge", "bridge_id", "stp", "interface"])


# --------------------------------------------------------------------------
# ifconfig: net-tools 2.x and net-tools 1.60 / busybox

_IFCONFIG_HEAD = [
    re.compile(r"(?P<name>\S+):\s+flags=(?P<flags>\d+)<(?P<flag_names>[^>]*)>"
               r"\s+mtu\s+(?P<mtu>\d+)"),
    re.compile(r"(?P<name>\S+)\s+Link encap:.*?(?:\s+HWaddr\s+(?P<ether>\S+))?"),
]
# Each detail line either sets fields through its named groups or is ignored.
_IFCONFIG_DETAIL = [
    re.compile(r"inet\s+(?P<inet>[\d.]+)\s+netmask\s+(?P<netmask>\S+)"
               r"(?:\s+broadcast\s+(?P<broadcast>\S+))?.*"),
    re.compile(r"inet addr:(?P<inet>[\d.]+)(?:\s+(?:Bcast:(?P<broadcast>\S+)|P-t-P:\S+))?"
               r"\s+Mask:(?P<netmask>\S+).*"),
    re.compile(r"inet6\s+(?:addr:\s*)?(?P<inet6>[0-9a-fA-F:.]+)\b.*"),
    re.compile(r"ether\s+(?P<ether>\S+).*"),
    re.compile(r"(?P<flag_names>(?:[A-Z_]+ )*?)\s*MTU:(?P<mtu>\d+).*"),
    re.compile(r"RX packets[: ](?P<rx_packets>\d+)(?:\s+bytes (?P<rx_bytes>\d+))?.*"),
    re.compile(r"TX packets[: ](?P<tx_packets>\d+)(?:\s+bytes (?P<tx_bytes>\d+))?.*"),
    re.compile(r"RX bytes:(?P<rx_bytes>\d+).*TX bytes:(?P<tx_bytes>\d+).*"),
]
# linux/if.h: busybox prints only the names, net-tools 2.x the number too.
_IFF = {"UP": 0x1, "BROADCAST": 0x2, "DEBUG": 0x4, "LOOPBACK": 0x8, "POINTOPOINT": 0x10,
        "NOTRAILERS": 0x20, "RUNNING": 0x40, "NOARP": 0x80, "PROMISC": 0x100,
        "ALLMULTI": 0x200, "MASTER": 0x400, "SLAVE": 0x800, "MULTICAST": 0x1000,
        "PORTSEL": 0x2000, "AUTOMEDIA": 0x4000, "DYNAMIC": 0x8000}
_IFCONFIG_NUMBERS = ["flags", "mtu", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes"]
_IFCONFIG_COLUMNS = ["name", "flags", "flag_names", "mtu", "inet", "netmask", "broadcast",
                     "inet6", "ether", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes"]


def ifconfig(text: str) -> pd.DataFrame:
    """`ifconfig [-a]`, net-tools 2.x or 1.60/busybox: one row per interface."""
    found = []
    for n, line in _lines(text):
        body = line.strip()
        if re.fullmatch(r"\.+|…+", body):  # "......": the article cut lines out
            continue
        head = next((m for rx in _IFCONFIG_HEAD if (m := rx.fullmatch(body))), None)
        if head:
            found.append({k: v for k, v in head.groupdict().items() if v is not None})
            found[-1]["inet6"] = []
        elif not found:
            raise ParseError("ifconfig", n, line, "expected an interface line first")
        else:
            _ifconfig_detail(found[-1], body)
    df = pd.DataFrame([_ifconfig_row(i) for i in found], columns=_IFCONFIG_COLUMNS)
    return df.astype({c: "Int64" for c in _IFCONFIG_NUMBERS})


def _ifconfig_detail(iface: dict, body: str) -> None:
    m = next((m for rx in _IFCONFIG_DETAIL if (m := rx.fullmatch(body))), None)
    for key, value in (m.groupdict() if m else {}).items():
        if key == "inet6":
            iface["inet6"].append(value)
        elif value is not None:
            iface[key] = value


def _ifconfig_row(iface: dict) -> dict:
    row = {k: iface.get(k) for k in _IFCONFIG_COLUMNS}
    row["flag_names"] = re.findall(r"[A-Z_-]+", iface.get("flag_names", ""))
    if "flags" not in iface:
        row["flags"] = sum(_IFF.get(name, 0) for name in row["flag_names"])
    row["inet6"] = ",".join(iface["inet6"]) or None
    row["ether"] = iface["ether"].lower() if "ether" in iface else None  # busybox: upper
    return row


# --- docker service ps: the task table --------------------------------------------------
TASK_COLUMNS = ["slot", "node", "desired state", "current state", "state", "error", "id", "name", "history"]


def tasks_from_json(text: str) -> pd.DataFrame:
    """Rows of `docker service ps --no-trunc --format '{{json .}}'` as a table.

    history is True for a replica's earlier attempts (the rows `docker service ps`
    marks with "\\_"): docker lists a replica's tasks together, newest first, so a
    name repeated from the row above is an earlier attempt.
    """
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        task = json.loads(line)
        name = task.get("Name", "")
        rows.append({
            "slot": name.rsplit(".", 1)[-1] if "." in name else "",
            "node": task.get("Node", ""),
            "desired state": task.get("DesiredState", ""),
            "current state": task.get("CurrentState", ""),
            "state": task.get("CurrentState", "").split(" ")[0],
            "error": _unquote(task.get("Error", "")),
            "id": task.get("ID", ""),
            "name": name,
            "history": bool(rows) and rows[-1]["name"] == name,
        })
    return pd.DataFrame(rows, columns=TASK_COLUMNS)


def _unquote(error: str) -> str:
    """--no-trunc prints the error Go-quoted ("\\"starting container failed: ...\\"")."""
    error = error.strip()
    if len(error) >= 2 and error[0] == error[-1] == '"':
        try:
            return json.loads(error)
        except json.JSONDecodeError:
            return error[1:-1]
    return error


# --- which parser reads a command's output ---------------------------------------------
_SHELL_OPERATORS = ("|", ";", "&", ">", "<", "`", "$(")


def parser_for(command: str) -> tuple[str, Callable[[str], pd.DataFrame]] | None:
    """(name, parser) that turns what `command` prints into a table, or None.

    docker ... ls / ps tables -> parse.docker_table (`--format '{{json .}}'` ->
    parse.docker_json_lines); brctl show -> parse.brctl_show; ifconfig ->
    parse.ifconfig; ip -j ... -> parse.ip_json. A pipeline or a quiet listing has none.
    """
    if any(op in command for op in _SHELL_OPERATORS):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words:
        return None
    tool, args = words[0], words[1:]
    if tool == "docker":
        verbs = [w for w in args if not w.startswith("-")]
        listing = verbs[:2] in (["network", "ls"], ["node", "ls"], ["service", "ps"], ["service", "ls"],
                                ["container", "ls"], ["container", "ps"], ["image", "ls"], ["node", "ps"],
                                ["stack", "ls"], ["volume", "ls"]) or verbs[:1] in (["ps"], ["images"])
        if not listing or {"-q", "--quiet"} & set(args):
            return None
        formats = [args[i + 1] for i, w in enumerate(args[:-1]) if w == "--format"] + \
                  [w.split("=", 1)[1] for w in args if w.startswith("--format=")]
        if not formats:
            return "parse.docker_table", docker_table
        if formats[-1].replace(" ", "") == "{{json.}}":
            return "parse.docker_json_lines", docker_json_lines
        return None
    if tool == "brctl" and args[:1] == ["show"] and len(args) == 1:
        return "parse.brctl_show", brctl_show
    if tool == "ifconfig" and all(not a.startswith("-") or a == "-a" for a in args):
        return "parse.ifconfig", ifconfig
    if tool == "ip" and {"-j", "-json", "--json"} & set(w for w in args if w.startswith("-")):
        return "parse.ip_json", ip_json
    return None
