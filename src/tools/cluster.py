"""HCCL rank tables on the command line: write, merge, check, list (the format and its checks:
:mod:`src.utils.rank_table`). Every table written here is validated, and the launch script checks the
table before starting anything.

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
import os
import re
import shutil
import socket
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

from src.tools.cli import ToolError, run_main, tool_parser
from src.utils.rank_table import load_rank_table, make_rank_table, merge_rank_tables, save_rank_table, \
    server_devices

__all__ = ["parse_device_range", "read_hccn_conf", "query_hccn_tool", "resolve_chip_ips", "rank_table_name",
           "write_server_table", "build_parser", "main"]

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
