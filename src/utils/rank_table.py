"""HCCL rank tables: the JSON file Ascend data-parallel jobs start from; check, read, build, merge, save.

A rank table (``hccl_8p.json``) lists, per server, the NPUs taking part and the rank of each; every
value is a string::

    {"version": "1.0", "server_count": "1",
     "server_list": [{"server_id": "10.0.0.1", "host_nic_ip": "reserve",
                      "device": [{"device_id": "0", "device_ip": "192.1.27.6", "rank_id": "0"}, ...]}],
     "status": "completed"}

HCCL fails late and obscurely on a bad table (often a hang of every rank), so every table is
validated when read or written. The command line is :mod:`src.tools.cluster`.
"""
import ipaddress
import json
import os
import socket
from collections import Counter
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from src.utils.numbers import shown_value

__all__ = ["RankTableError", "load_rank_table", "validate_rank_table", "make_rank_table", "merge_rank_tables",
           "save_rank_table", "server_devices", "local_server_id"]

TABLE_VERSION = "1.0"


class RankTableError(ValueError):
    """A rank table that HCCL could not use; the message names the file and the problem."""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# Bounds of a rank table's numbers: an Ascend server carries 8 (910) or 16 chips; no job reaches a
# million ranks. Larger values are typos or corrupt files.
MAX_DEVICE_ID = 15
MAX_COUNT = 10 ** 6


def _non_negative_int(text, high: int) -> bool:
    """``text`` is a string of ASCII digits (no leading zero) for an integer in 0..``high``."""
    return (isinstance(text, str) and text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))
            and len(text) <= len(str(high)) and int(text) <= high)


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
    if not _non_negative_int(table["server_count"], MAX_COUNT):
        fail(f"'server_count' must be a string holding a number in 0..{MAX_COUNT}, got "
             f"{shown_value(table['server_count'])}")
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
                    fail(f"{d_where}.{key} must be a string (e.g. \"0\"), got {shown_value(device[key])}")
            for key, high in (("device_id", MAX_DEVICE_ID), ("rank_id", MAX_COUNT)):
                if not _non_negative_int(device[key], high):
                    fail(f"{d_where}.{key} must be a string holding an integer in 0..{high}, got "
                         f"{shown_value(device[key])}")
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
