"""Real traffic between swarm nodes, measured so that a busy machine is not called a firewall.

The doctor proves network faults by sending packets, not only by reading rules (on
real hosts the filter is often elsewhere, e.g. a cloud security group):

- TCP connects to 7946 (gossip) on a few peers and to 2377 on the managers;
- a small ping and a full-size ping with don't-fragment set on the underlay;
- over the ingress overlay, from the node's ingress sandbox to its peers' sandboxes:
  a small ping (VXLAN works) and a full-size one with don't-fragment (the path
  carries what the overlay's MTU promises).

Three rules keep the verdicts honest on a loaded machine:

1. bounded work: each node probes a ring of `RING` peers (every pair in a small
   swarm), never all N*N pairs, and keeps at most `PARALLEL` probes in flight;
2. retries: a probe that fails, and each of its controls, is tried again with a
   longer timeout (`TRIES`) before it counts as failed;
3. controls: a TCP port that stays silent is blamed on a filter only when the same
   peer answers a ping and a TCP connect to a closed port (a reset) - the path
   works, only that port is dropped. Silence alone is reported as silence.

Everything here is text in and text out (the node runs a bash script, the doctor
parses its lines), so the verdicts can be tested on captured outputs.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

TRIES = (0.5, 1.5)  # seconds: the first try, then the retry of a failed probe
PARALLEL = 4  # probes in flight at once on one node
RING = 3  # peers each node probes; in a swarm of RING+1 nodes or fewer that is every pair
CLOSED_PORT = 1  # tcpmux: nothing listens there, so a working path answers with a reset
ICMP_IP_HEADERS = 28  # IPv4 + ICMP header bytes a ping adds to its payload
INGRESS_SANDBOX = "/var/run/docker/netns/ingress_sbox"

# One bash script per node. Each probe prints one line:
#   tcp ADDR PORT OUTCOME TRIES            OUTCOME: open refused timeout unreachable error
#   ping ADDR SIZE DF OUTCOME TRIES        OUTCOME: ok lost toolong unreachable unsupported error
# and a TCP probe that fails also prints its controls, each retried as the probes are:
#   ctl-ping ADDR OUTCOME TRIES            ctl-tcp ADDR CLOSED_PORT OUTCOME TRIES
_FUNCTIONS = r"""
tries="$1"; parallel="$2"; closed="$3"; shift 3
tcp_once() { timeout "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>&1; }
tcp_outcome() {
  local out rc; out=$(tcp_once "$@"); rc=$?
  case $rc in 0) echo open;; 124) echo timeout;; *)
    case $out in *refused*) echo refused;; *nreachable*|*"No route"*) echo unreachable;; *) echo error;; esac;; esac; }
ping_outcome() {  # timeout addr size df [prefix...]
  local t=$1 addr=$2 size=$3 df=$4 out rc; shift 4
  local wait=${t%.*}; [ "$wait" -ge 1 ] 2>/dev/null || wait=1
  if [ "$df" = df ]; then out=$("$@" ping -n -c 1 -W "$wait" -M do -s "$size" "$addr" 2>&1); rc=$?
  else out=$("$@" ping -n -c 1 -W "$wait" -s "$size" "$addr" 2>&1); rc=$?; fi
  case $out in *"too long"*) echo toolong; return;; *nrecognized*|*"invalid option"*|*"not found"*) echo unsupported; return;; esac
  case $rc in 0) echo ok;; 1) echo lost;; *) case $out in *nreachable*) echo unreachable;; *) echo error;; esac;; esac; }
probe_tcp() {  # addr port
  local n=0 out t
  for t in $tries; do n=$((n+1)); out=$(tcp_outcome "$t" "$1" "$2"); [ "$out" = open ] && break; sleep 0.1; done
  echo "tcp $1 $2 $out $n"
  if [ "$out" = timeout ]; then ctl_ping "$1"; ctl_tcp "$1"; fi; }
ctl_ping() {  # addr: does the peer answer at all?
  local n=0 out t
  for t in $tries; do n=$((n+1)); out=$(ping_outcome "$t" "$1" 56 -); [ "$out" = ok ] && break; sleep 0.1; done
  echo "ctl-ping $1 $out $n"; }
ctl_tcp() {  # addr: does its kernel reset a connect to a closed port?
  local n=0 out t
  for t in $tries; do n=$((n+1)); out=$(tcp_outcome "$t" "$1" "$closed")
    case $out in refused|open) break;; esac; sleep 0.1; done
  echo "ctl-tcp $1 $closed $out $n"; }
probe_ping() {  # addr size df [prefix...]
  local addr=$1 size=$2 df=$3 n=0 out t; shift 3
  for t in $tries; do n=$((n+1)); out=$(ping_outcome "$t" "$addr" "$size" "$df" "$@")
    case $out in ok|toolong|unsupported) break;; esac; sleep 0.1; done
  echo "ping $addr $size $df $out $n"; }
running=0
spawn() { "$@" & running=$((running+1)); if [ $running -ge "$parallel" ]; then wait -n; running=$((running-1)); fi; }
"""


@dataclass(frozen=True)
class Probe:
    kind: str  # "tcp" or "ping"
    address: str
    port: int = 0  # tcp
    size: int = 56  # ping payload
    df: bool = False  # ping: don't fragment

    def call(self, prefix: str = "") -> str:
        if self.kind == "tcp":
            return f"spawn probe_tcp {self.address} {self.port}"
        return f"spawn probe_ping {self.address} {self.size} {'df' if self.df else '-'} {prefix}".rstrip()


def script(probes: list[Probe], prefix: str = "") -> str:
    """The bash command that runs `probes` on a node, PARALLEL at a time, each retried once."""
    if not probes:
        return ""
    body = _FUNCTIONS + "".join(p.call(prefix) + "\n" for p in probes) + "wait\n"
    tries = " ".join(str(t) for t in TRIES)
    return f"bash -c {shlex.quote(body)} probes {shlex.quote(tries)} {PARALLEL} {CLOSED_PORT}"


def ring(names: list[str], name: str, size: int = RING) -> list[str]:
    """The peers `name` probes: the next `size` nodes after it, wrapping around.

    Every node is then probed by `size` others, so a fault at one node shows from
    several sources while the work grows with N, not N*N.
    """
    if name not in names or len(names) < 2:
        return []
    i = names.index(name)
    count = min(size, len(names) - 1)
    return [names[(i + k) % len(names)] for k in range(1, count + 1)]


@dataclass(frozen=True)
class Outcome:
    """One probe line, parsed."""

    kind: str  # tcp, ping, ctl-ping, ctl-tcp
    address: str
    port: int
    size: int
    df: bool
    outcome: str
    tries: int
    line: str = field(default="", compare=False)  # the line as the script printed it (for evidence)


def parse(text: str) -> list[Outcome]:
    """The lines a probe script printed; anything else (a shell's complaint) is skipped."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        try:
            if parts[:1] == ["tcp"] and len(parts) == 5:
                rows.append(Outcome("tcp", parts[1], int(parts[2]), 0, False, parts[3], int(parts[4]), line))
            elif parts[:1] == ["ping"] and len(parts) == 6:
                rows.append(Outcome("ping", parts[1], 0, int(parts[2]), parts[3] == "df", parts[4], int(parts[5]),
                                    line))
            # Controls end with their tries; recordings made before controls were retried do not.
            elif parts[:1] == ["ctl-ping"] and len(parts) in (3, 4):
                rows.append(Outcome("ctl-ping", parts[1], 0, 56, False, parts[2], int((parts[3:] or [1])[0]), line))
            elif parts[:1] == ["ctl-tcp"] and len(parts) in (4, 5):
                rows.append(Outcome("ctl-tcp", parts[1], int(parts[2]), 0, False, parts[3], int((parts[4:] or [1])[0]),
                                    line))
        except ValueError:
            continue
    return rows


def silence_verdict(outcomes: list[Outcome], address: str) -> str:
    """Why a TCP port of `address` stayed silent, from the controls run after it.

    "filtered": the peer answers a ping and resets a closed port, so the path works
    and only this port is dropped. "unreachable": nothing of the peer answers.
    "unknown": the controls did not settle it (no verdict on a timeout alone).
    """
    ping = next((o.outcome for o in outcomes if o.kind == "ctl-ping" and o.address == address), "")
    closed = next((o.outcome for o in outcomes if o.kind == "ctl-tcp" and o.address == address), "")
    if ping == "ok" and closed == "refused":
        return "filtered"
    if ping in ("lost", "unreachable") and closed in ("timeout", "unreachable"):
        return "unreachable"
    return "unknown"
