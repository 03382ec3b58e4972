"""HCCL rank tables: the JSON file Ascend data-parallel jobs start from; write, merge, check, list.

A rank table (``hccl_8p.json``) lists, per server, the NPUs taking part and the rank of each; every
value is a string::

    {"version": "1.0", "server_count": "1",
     "server_list": [{"server_id": "10.0.0.1", "host_nic_ip": "reserve",
                      "device": [{"device_id": "0", "device_ip": "192.1.27.6", "rank_id": "0"}, ...]}],
     "status": "completed"}

HCCL fails late and obscurely on a bad table (often a hang of every rank), so every table written
here is validated, and the launch script checks the table before starting anything.

``hccl``: the table of one server::

    python -m src.tools.cluster hccl --device_num "[0,8)" [--server_ip 10.0.0.1] [--output_dir .]
    # -> ./hccl_8p_01234567_10.0.0.1.json

``--device_num`` is a device range: ``"[0,8)"`` (devices 0..7), ``"[4,8)"``, ``"[0,3]"`` (0..3) or a
count ``"8"`` (devices 0..7). The chip (NPU NIC) IP of each device comes from, in order of preference:
``--device_ips 192.1.27.6,192.2.27.6,...`` (one per device, in device order), ``hccn_tool -i N -ip -g``
when ``hccn_tool`` is on PATH, then ``address_N=...`` lines of ``--hccn_conf`` (``/etc/hccn.conf``).
``--server_ip`` defaults to the address this host's name resolves to (loopback addresses are refused).

``merge``: several servers' tables joined into one, ranks renumbered in the order given::

    python -m src.tools.cluster merge hccl_8p_01234567_10.0.0.1.json hccl_8p_01234567_10.0.0.2.json \
        --output hccl_16p.json

``validate`` and ``devices``: what the launch script runs::

    python -m src.tools.cluster validate hccl_8p.json [--rank_size 8]
    python -m src.tools.cluster devices hccl_8p.json [--server_id 10.0.0.1]

``validate`` prints a one-line summary. ``devices`` prints one ``<device_id> <rank_id>`` line per NPU
of one server (the only server, the one given, or the one whose address belongs to this machine),
which is what the launch script starts processes for. A problem is printed as ``error: ...`` with
exit status 2.
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from src.tools.cli import ToolError, run_main, tool_parser

__all__ = ["RankTableError", "load_rank_table", "validate_rank_table", "make_rank_table", "merge_rank_tables",
           "save_rank_table", "server_devices", "local_server_id", "parse_device_range", "read_hccn_conf",
           "query_hccn_tool", "resolve_chip_ips", "rank_table_name", "write_server_table", "build_parser", "main"]

TABLE_VERSION = "1.0"


# --- the table: check, read, build, merge, save --------------------------------------------------

class RankTableError(ValueError):
    """A rank table that HCCL could not use; the message names the file and the problem."""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _non_negative_int(text) -> bool:
    return isinstance(text, str) and text.isdigit() and (text == "0" or not text.startswith("0"))


def validate_rank_table(table, source: str = "<rank table>", expected_size: Optional[int] = None) -> dict:
    """Check ``table`` (a parsed rank table) and return it unchanged; raise :class:`RankTableError`.

    Checked: the top-level fields, ``status == "completed"``, ``server_count == len(server_list)``,
    string values throughout, well-formed server and chip IPs, device ids unique per server, chip IPs
    and server ids unique, rank ids exactly ``0..N-1`` and, when given, ``N == expected_size``.
    """
    def fail(problem: str):
        raise RankTableError(f"{source}: {problem}; regenerate it with `python -m src.tools.cluster hccl`")

    if not isinstance(table, dict):
        fail(f"expected a JSON object at the top level, got {type(table).__name__}")
    for key in ("version", "server_count", "server_list", "status"):
        if key not in table:
            fail(f"missing top-level field {key!r}")
    if not isinstance(table["version"], str) or not table["version"]:
        fail(f"'version' must be a non-empty string such as \"{TABLE_VERSION}\", got {table['version']!r}")
    if table["status"] != "completed":
        fail(f"'status' must be \"completed\", got {table['status']!r}")
    servers = table["server_list"]
    if not isinstance(servers, list) or not servers:
        fail("'server_list' must be a non-empty list of servers")
    if not _non_negative_int(table["server_count"]):
        fail(f"'server_count' must be a string holding a number, got {table['server_count']!r}")
    if int(table["server_count"]) != len(servers):
        fail(f"'server_count' is {table['server_count']} but 'server_list' holds {len(servers)} servers")

    rank_ids: List[int] = []
    server_ids, chip_ips = set(), {}
    for s_index, server in enumerate(servers):
        where = f"server_list[{s_index}]"
        if not isinstance(server, dict):
            fail(f"{where} must be an object")
        for key in ("server_id", "device"):
            if key not in server:
                fail(f"{where} has no {key!r} field")
        server_id = server["server_id"]
        if not isinstance(server_id, str) or not _is_ip(server_id):
            fail(f"{where}.server_id must be the server's IP address as a string, got {server_id!r}")
        if server_id in server_ids:
            fail(f"server {server_id} is listed twice")
        server_ids.add(server_id)
        devices = server["device"]
        if not isinstance(devices, list) or not devices:
            fail(f"{where}.device must be a non-empty list of devices")
        device_ids = set()
        for d_index, device in enumerate(devices):
            d_where = f"{where}.device[{d_index}]"
            if not isinstance(device, dict):
                fail(f"{d_where} must be an object")
            for key in ("device_id", "device_ip", "rank_id"):
                if key not in device:
                    fail(f"{d_where} has no {key!r} field")
                if not isinstance(device[key], str):
                    fail(f"{d_where}.{key} must be a string (e.g. \"0\"), got {device[key]!r}")
            for key in ("device_id", "rank_id"):
                if not _non_negative_int(device[key]):
                    fail(f"{d_where}.{key} must be a non-negative integer string, got {device[key]!r}")
            if device["device_id"] in device_ids:
                fail(f"device_id {device['device_id']} appears twice on server {server_id}")
            device_ids.add(device["device_id"])
            chip_ip = device["device_ip"]
            if not _is_ip(chip_ip):
                fail(f"{d_where}.device_ip {chip_ip!r} is not an IP address")
            if chip_ip in chip_ips:
                fail(f"device_ip {chip_ip} is used by both {chip_ips[chip_ip]} and {d_where}")
            chip_ips[chip_ip] = d_where
            rank_ids.append(int(device["rank_id"]))

    duplicates = sorted(rank for rank, count in Counter(rank_ids).items() if count > 1)
    if duplicates:
        fail(f"rank_id values are not unique (repeated: {duplicates})")
    if sorted(rank_ids) != list(range(len(rank_ids))):
        fail(f"rank_id values must be exactly 0..{len(rank_ids) - 1}, got {sorted(rank_ids)}")
    if expected_size is not None and len(rank_ids) != expected_size:
        fail(f"the table lists {len(rank_ids)} devices but the job asks for rank_size {expected_size}")
    return table


def load_rank_table(path: str, expected_size: Optional[int] = None) -> dict:
    """Read and validate a rank table file (see :func:`validate_rank_table`)."""
    if not os.path.isfile(path):
        raise RankTableError(f"{path}: rank table file not found; make one with `python -m src.tools.cluster hccl`")
    try:
        with open(path, "r", encoding="utf-8") as handle:
            table = json.loads(handle.read())
    except UnicodeDecodeError as err:
        raise RankTableError(f"{path}: not a JSON text file ({err.reason} at byte {err.start}); make one with "
                             f"`python -m src.tools.cluster hccl`") from err
    except json.JSONDecodeError as err:
        raise RankTableError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") \
            from err
    return validate_rank_table(table, path, expected_size)


def make_rank_table(servers: Sequence[Tuple[str, Iterable[Tuple[int, str]]]]) -> dict:
    """Build a rank table from ``[(server_ip, [(device_id, chip_ip), ...]), ...]``.

    Ranks are numbered consecutively in the given server order, then device order.
    """
    server_list, rank = [], 0
    for server_ip, devices in servers:
        entries = []
        for device_id, chip_ip in devices:
            entries.append({"device_id": str(device_id), "device_ip": str(chip_ip), "rank_id": str(rank)})
            rank += 1
        server_list.append({"server_id": str(server_ip), "device": entries, "host_nic_ip": "reserve"})
    table = {"version": TABLE_VERSION, "server_count": str(len(server_list)),
             "server_list": server_list, "status": "completed"}
    return validate_rank_table(table, "generated rank table")


def merge_rank_tables(paths: Sequence[str]) -> dict:
    """Join several rank tables (typically one per server) into one; ranks renumbered in file order."""
    if not paths:
        raise RankTableError("merge needs at least one rank table file")
    servers = []
    for path in paths:
        table = load_rank_table(path)
        for server in table["server_list"]:
            devices = sorted(server["device"], key=lambda device: int(device["rank_id"]))
            servers.append((server["server_id"], [(d["device_id"], d["device_ip"]) for d in devices]))
    try:
        return make_rank_table(servers)
    except RankTableError as err:
        raise RankTableError(f"merging {', '.join(paths)}: {err}") from err


def save_rank_table(table: Mapping, path: str) -> str:
    """Write ``table`` as indented JSON and return ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(table, handle, indent=4)
        handle.write("\n")
    return path


def _local_addresses() -> set:
    addresses = {"127.0.0.1"}
    try:
        hostname = socket.gethostname()
        addresses.update(socket.gethostbyname_ex(hostname)[2])
    except OSError:
        pass
    return addresses


def local_server_id(table: Mapping, source: str = "<rank table>") -> str:
    """The ``server_id`` of this machine: the only server, or the one whose IP is a local address."""
    server_ids = [server["server_id"] for server in table["server_list"]]
    if len(server_ids) == 1:
        return server_ids[0]
    matches = [server_id for server_id in server_ids if server_id in _local_addresses()]
    if len(matches) != 1:
        raise RankTableError(f"{source}: lists servers {server_ids} and this machine's address is not "
                             f"exactly one of them; pass the server (SERVER_ID / --server_id)")
    return matches[0]


def server_devices(table: Mapping, server_id: Optional[str] = None,
                   source: str = "<rank table>") -> List[Tuple[int, int]]:
    """``[(device_id, rank_id), ...]`` of one server (default: this machine), in rank order."""
    server_id = server_id or local_server_id(table, source)
    by_server: Dict[str, list] = {server["server_id"]: server["device"] for server in table["server_list"]}
    if server_id not in by_server:
        raise RankTableError(f"{source}: no server {server_id!r}; the table lists {sorted(by_server)}")
    pairs = [(int(device["device_id"]), int(device["rank_id"])) for device in by_server[server_id]]
    return sorted(pairs, key=lambda pair: pair[1])


# --- one server's devices and chip IPs ---------------------------------------------------------

DEFAULT_HCCN_CONF = "/etc/hccn.conf"
_RANGE = re.compile(r"^\s*\[\s*(\d+)\s*,\s*(\d+)\s*([)\]])\s*$")


def parse_device_range(text: str) -> List[int]:
    """``"[0,8)"`` -> [0..7]; ``"[0,3]"`` -> [0..3]; ``"8"`` -> [0..7]."""
    text = str(text).strip()
    if text.isdigit():
        first, last = 0, int(text)
    else:
        match = _RANGE.match(text)
        if match is None:
            raise ValueError(f"--device_num {text!r} is not a device range; write \"[0,8)\" for devices 0..7, "
                             f"\"[0,3]\" for 0..3 or a count such as \"8\"")
        first, last = int(match.group(1)), int(match.group(2)) + (1 if match.group(3) == "]" else 0)
    if last <= first:
        raise ValueError(f"--device_num {text!r} holds no device; the end must be past the start")
    return list(range(first, last))


def read_hccn_conf(path: str) -> Dict[int, str]:
    """``{device_id: chip_ip}`` from the ``address_N=IP`` lines of an hccn.conf file ({} if missing)."""
    if not os.path.isfile(path):
        return {}
    addresses = {}
    with open(path, "r", encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"^\s*address_(\d+)\s*=\s*(\S+)\s*$", line)
            if match:
                addresses[int(match.group(1))] = match.group(2)
    return addresses


def query_hccn_tool(device_id: int, tool: str) -> Optional[str]:
    """The chip IP reported by ``hccn_tool -i N -ip -g`` (``ipaddr:...`` line), or None."""
    try:
        result = subprocess.run([tool, "-i", str(device_id), "-ip", "-g"], capture_output=True,
                                text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"ipaddr\s*[:=]\s*(\S+)", result.stdout)
    return match.group(1) if result.returncode == 0 and match else None


def resolve_chip_ips(devices: Sequence[int], device_ips: Optional[Sequence[str]] = None,
                     hccn_conf: str = DEFAULT_HCCN_CONF, hccn_tool: Optional[str] = None) -> Dict[int, str]:
    """Chip IP of every device: the explicit list, else ``hccn_tool``, else ``hccn_conf``."""
    if device_ips:
        if len(device_ips) != len(devices):
            raise ValueError(f"--device_ips lists {len(device_ips)} addresses but --device_num selects "
                             f"{len(devices)} devices {list(devices)}; give one address per device")
        return dict(zip(devices, device_ips))
    conf = read_hccn_conf(hccn_conf)
    chip_ips, missing = {}, []
    for device in devices:
        address = query_hccn_tool(device, hccn_tool) if hccn_tool else None
        address = address or conf.get(device)
        if address is None:
            missing.append(device)
        else:
            chip_ips[device] = address
    if missing:
        sources = (["`hccn_tool -i N -ip -g`"] if hccn_tool else []) + [f"{hccn_conf} (address_N=...)"]
        raise ValueError(f"no chip IP for device(s) {missing} in {' or '.join(sources)}; pass them with "
                         f"--device_ips IP0,IP1,... (one per device)")
    return chip_ips


def rank_table_name(devices: Sequence[int], server_ip: str) -> str:
    """``hccl_<N>p_<device ids joined>_<server ip>.json``, the model zoo's naming."""
    return f"hccl_{len(devices)}p_{''.join(str(device) for device in devices)}_{server_ip}.json"


def write_server_table(devices: Sequence[int], server_ip: str, chip_ips: Dict[int, str], output_dir: str) -> str:
    """Write and re-validate the one-server table; return its path."""
    table = make_rank_table([(server_ip, [(device, chip_ips[device]) for device in devices])])
    path = save_rank_table(table, os.path.join(output_dir, rank_table_name(devices, server_ip)))
    load_rank_table(path, expected_size=len(devices))
    return path


def _default_server_ip() -> str:
    """The host name's address, or '' when it is unknown or a loopback address (useless to HCCL)."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return ""
    return "" if ipaddress.ip_address(address).is_loopback else address


# --- CLI ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser("src.tools.cluster", __doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, formatter_class=parser.formatter_class)

    hccl = command("hccl", "write the rank table of this server's devices")
    hccl.add_argument("--device_num", default="[0,8)", help="device range, e.g. \"[0,8)\", \"[0,3]\" or \"8\"")
    hccl.add_argument("--server_ip", default="", help="this server's IP (default: the host's address)")
    hccl.add_argument("--device_ips", default="", help="comma-separated chip IPs, one per device in order")
    hccl.add_argument("--hccn_conf", default=DEFAULT_HCCN_CONF, help="hccn.conf read when hccn_tool is absent")
    hccl.add_argument("--output_dir", default=".", help="folder of the generated table")
    merge = command("merge", "join several servers' tables (server order kept)")
    merge.add_argument("tables", nargs="+", metavar="TABLE", help="rank tables to merge")
    merge.add_argument("--output", required=True, help="merged table path")
    validate = command("validate", "check a rank table (exit status 2 with the problem)")
    validate.add_argument("file", help="rank table JSON")
    validate.add_argument("--rank_size", type=int, default=None, help="number of devices the job uses")
    devices = command("devices", "print '<device_id> <rank_id>' per device of one server")
    devices.add_argument("file", help="rank table JSON")
    devices.add_argument("--rank_size", type=int, default=None, help="number of devices the job uses")
    devices.add_argument("--server_id", default="", help="server to list (default: this machine)")
    return parser


def _write_server_table(args) -> None:
    devices = parse_device_range(args.device_num)
    server_ip = args.server_ip or _default_server_ip()
    if not server_ip:
        raise ToolError("could not find this host's IP (its name resolves to nothing or to a loopback "
                        "address); pass --server_ip")
    device_ips = [ip.strip() for ip in args.device_ips.split(",") if ip.strip()]
    chip_ips = resolve_chip_ips(devices, device_ips, args.hccn_conf, shutil.which("hccn_tool"))
    path = write_server_table(devices, server_ip, chip_ips, args.output_dir)
    print(f"wrote {path}: devices {devices} on server {server_ip}")


def _merge(args) -> None:
    table = merge_rank_tables(args.tables)
    save_rank_table(table, args.output)
    load_rank_table(args.output)
    ranks = sum(len(server["device"]) for server in table["server_list"])
    print(f"wrote {args.output}: {ranks} ranks on {len(table['server_list'])} servers")


def _validate(args) -> None:
    table = load_rank_table(args.file, args.rank_size)
    ranks = sum(len(server["device"]) for server in table["server_list"])
    print(f"{args.file}: valid rank table, {ranks} ranks on {len(table['server_list'])} server(s)")


def _list_devices(args) -> None:
    table = load_rank_table(args.file, args.rank_size)
    for device_id, rank_id in server_devices(table, args.server_id or None, args.file):
        print(device_id, rank_id)


_COMMANDS = {"hccl": _write_server_table, "merge": _merge, "validate": _validate, "devices": _list_devices}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        _COMMANDS[args.command](args)
        return 0

    # RankTableError is a ValueError, as are the device-range and chip-IP problems
    return run_main(body, known_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
