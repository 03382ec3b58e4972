"""Write the HCCL rank table of one Ascend server, or merge several servers' tables into one.

One server::

    python -m src.tools.hccl_tools --device_num "[0,8)" [--server_ip 10.0.0.1] [--output_dir .]
    # -> ./hccl_8p_01234567_10.0.0.1.json

``--device_num`` is a device range: ``"[0,8)"`` (devices 0..7), ``"[4,8)"``, ``"[0,3]"`` (0..3) or a
count ``"8"`` (devices 0..7). The chip (NPU NIC) IP of each device comes from, in order of preference:
``--device_ips 192.1.27.6,192.2.27.6,...`` (one per device, in device order), ``hccn_tool -i N -ip -g``
when ``hccn_tool`` is on PATH, then ``address_N=...`` lines of ``--hccn_conf`` (``/etc/hccn.conf``).
``--server_ip`` defaults to the address this host's name resolves to (loopback addresses are refused).

Several servers (one table per server, ranks renumbered in the order given)::

    python -m src.tools.hccl_tools --merge hccl_8p_01234567_10.0.0.1.json hccl_8p_01234567_10.0.0.2.json \
        --output hccl_16p.json

Every table written is validated with :mod:`src.utils.rank_table`.
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

from src.utils.rank_table import (RankTableError, load_rank_table, make_rank_table, merge_rank_tables,
                                  save_rank_table)

__all__ = ["parse_device_range", "read_hccn_conf", "query_hccn_tool", "resolve_chip_ips",
           "rank_table_name", "write_server_table", "main"]

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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.tools.hccl_tools", description=__doc__.split("\n")[0],
                                     epilog="See the module docstring for examples.")
    parser.add_argument("--device_num", default="[0,8)", help="device range, e.g. \"[0,8)\", \"[0,3]\" or \"8\"")
    parser.add_argument("--server_ip", default="", help="this server's IP (default: the host's address)")
    parser.add_argument("--device_ips", default="", help="comma-separated chip IPs, one per device in order")
    parser.add_argument("--hccn_conf", default=DEFAULT_HCCN_CONF, help="hccn.conf read when hccn_tool is absent")
    parser.add_argument("--output_dir", default=".", help="folder of the generated table")
    parser.add_argument("--merge", nargs="+", metavar="TABLE", help="merge these tables (server order kept)")
    parser.add_argument("--output", default="", help="merged table path (with --merge)")
    args = parser.parse_args(argv)
    try:
        if args.merge:
            if not args.output:
                parser.error("--merge needs --output FILE")
            table = merge_rank_tables(args.merge)
            save_rank_table(table, args.output)
            load_rank_table(args.output)
            ranks = sum(len(server["device"]) for server in table["server_list"])
            print(f"wrote {args.output}: {ranks} ranks on {len(table['server_list'])} servers")
            return 0
        devices = parse_device_range(args.device_num)
        server_ip = args.server_ip or _default_server_ip()
        if not server_ip:
            parser.error("could not find this host's IP (its name resolves to nothing or to a loopback "
                         "address); pass --server_ip")
        device_ips = [ip.strip() for ip in args.device_ips.split(",") if ip.strip()]
        chip_ips = resolve_chip_ips(devices, device_ips, args.hccn_conf, shutil.which("hccn_tool"))
        path = write_server_table(devices, server_ip, chip_ips, args.output_dir)
        print(f"wrote {path}: devices {devices} on server {server_ip}")
    except (RankTableError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
