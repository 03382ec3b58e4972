"""HCCL rank tables (src.utils.rank_table, the command src.tools.cluster): generation, validation, merging, per-server device lists."""
import copy
import json
import os
import subprocess
import sys

import pytest

from src.tools import cluster
from src.utils import rank_table
from src.utils.rank_table import RankTableError

CHIP_IPS = [f"192.{i}.27.6" for i in range(8)]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(module, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"}, check=False)


@pytest.fixture
def table_8p(tmp_path):
    result = run_module("src.tools.cluster", "hccl", "--device_num", "[0,8)", "--server_ip", "10.0.0.1",
                        "--device_ips", ",".join(CHIP_IPS), "--output_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    return tmp_path / "hccl_8p_01234567_10.0.0.1.json"


def write(path, table):
    path.write_text(json.dumps(table))
    return str(path)


def test_generated_8p_table_has_the_reference_layout(table_8p):
    table = json.loads(table_8p.read_text())
    assert table["version"] == "1.0" and table["status"] == "completed" and table["server_count"] == "1"
    server = table["server_list"][0]
    assert server["server_id"] == "10.0.0.1" and server["host_nic_ip"] == "reserve"
    assert server["device"] == [{"device_id": str(i), "device_ip": CHIP_IPS[i], "rank_id": str(i)}
                                for i in range(8)]
    assert rank_table.load_rank_table(str(table_8p), expected_size=8) == table


@pytest.mark.parametrize("text, devices", [("[0,8)", list(range(8))), ("[4,8)", [4, 5, 6, 7]),
                                           ("[0,3]", [0, 1, 2, 3]), ("2", [0, 1]), (" [ 1 , 2 ) ", [1])])
def test_device_range_syntax(text, devices):
    assert cluster.parse_device_range(text) == devices


@pytest.mark.parametrize("text", ["[0,8", "0-8", "[8,8)", "[a,b)", ""])
def test_bad_device_range_is_rejected(text):
    with pytest.raises(ValueError, match="device"):
        cluster.parse_device_range(text)


def test_subset_of_devices_names_the_file_after_them(tmp_path):
    path = cluster.write_server_table([4, 5, 6, 7], "10.0.0.3", dict(zip(range(4, 8), CHIP_IPS[4:])),
                                      str(tmp_path))
    assert path.endswith("hccl_4p_4567_10.0.0.3.json")
    devices = json.loads(open(path).read())["server_list"][0]["device"]
    assert [(d["device_id"], d["rank_id"]) for d in devices] == [("4", "0"), ("5", "1"), ("6", "2"), ("7", "3")]


def test_chip_ips_from_hccn_conf_and_hccn_tool(tmp_path):
    conf = tmp_path / "hccn.conf"
    conf.write_text("address_0=192.168.10.1\nnetmask_0=255.255.255.0\naddress_1=192.168.10.2\n")
    assert cluster.resolve_chip_ips([0, 1], hccn_conf=str(conf)) == {0: "192.168.10.1", 1: "192.168.10.2"}
    tool = tmp_path / "hccn_tool"
    tool.write_text("#!/bin/sh\necho \"ipaddr:10.9.9.$2\"\necho netmask:255.255.255.0\n")
    tool.chmod(0o755)
    # hccn_tool wins over the file when present.
    assert cluster.resolve_chip_ips([0, 1], hccn_conf=str(conf), hccn_tool=str(tool)) == \
        {0: "10.9.9.0", 1: "10.9.9.1"}
    with pytest.raises(ValueError, match=r"device\(s\) \[2\].*--device_ips"):
        cluster.resolve_chip_ips([0, 1, 2], hccn_conf=str(conf))


def test_cli_errors_are_clear(tmp_path):
    missing = run_module("src.tools.cluster", "hccl", "--device_num", "[0,2)", "--server_ip", "10.0.0.1",
                         "--hccn_conf", str(tmp_path / "absent.conf"), "--output_dir", str(tmp_path))
    assert missing.returncode == 2 and "error: no chip IP for device(s) [0, 1]" in missing.stderr
    count = run_module("src.tools.cluster", "hccl", "--device_num", "[0,4)", "--server_ip", "10.0.0.1",
                       "--device_ips", "192.1.1.1,192.1.1.2", "--output_dir", str(tmp_path))
    assert count.returncode == 2 and "lists 2 addresses but --device_num selects 4" in count.stderr
    bad_ip = run_module("src.tools.cluster", "hccl", "--device_num", "[0,1)", "--server_ip", "10.0.0.1",
                        "--device_ips", "192.1.1.300", "--output_dir", str(tmp_path))
    assert bad_ip.returncode == 2 and "not an IP address" in bad_ip.stderr
    assert list(tmp_path.glob("hccl_*.json")) == []


def test_validate_cli(table_8p):
    good = run_module("src.tools.cluster", "validate", str(table_8p), "--rank_size", "8")
    assert good.returncode == 0 and "8 ranks on 1 server" in good.stdout
    wrong = run_module("src.tools.cluster", "validate", str(table_8p), "--rank_size", "4")
    assert wrong.returncode == 2
    assert str(table_8p) in wrong.stderr and "lists 8 devices but the job asks for rank_size 4" in wrong.stderr
    devices = run_module("src.tools.cluster", "devices", str(table_8p), "--server_id", "10.0.0.1")
    assert devices.returncode == 0 and devices.stdout.splitlines() == [f"{i} {i}" for i in range(8)]


def _mutations():
    def drop(key):
        return lambda t: t.pop(key)

    def set_device(field, value, index=3):
        return lambda t: t["server_list"][0]["device"][index].__setitem__(field, value)

    return {
        "missing status": (drop("status"), "missing top-level field 'status'"),
        "not completed": (lambda t: t.__setitem__("status", "pending"), "must be \"completed\""),
        "server count": (lambda t: t.__setitem__("server_count", "2"), "'server_count' is 2 but"),
        "missing device_ip": (lambda t: t["server_list"][0]["device"][1].pop("device_ip"),
                              r"device\[1\] has no 'device_ip'"),
        "missing server_id": (lambda t: t["server_list"][0].pop("server_id"), "has no 'server_id'"),
        "duplicate rank": (set_device("rank_id", "0"), r"not unique \(repeated: \[0\]\)"),
        "rank gap": (set_device("rank_id", "9"), r"exactly 0..7"),
        "duplicate device": (set_device("device_id", "0"), "device_id 0 appears twice"),
        "duplicate chip ip": (set_device("device_ip", CHIP_IPS[0]), "used by both"),
        "bad chip ip": (set_device("device_ip", "192.1.27"), "not an IP address"),
        "integer rank": (set_device("rank_id", 3), "must be a string"),
        "bad server ip": (lambda t: t["server_list"][0].__setitem__("server_id", "host-a"), "server's IP"),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_malformed_tables_are_rejected_with_file_and_problem(table_8p, tmp_path, name):
    mutate, message = _mutations()[name]
    table = json.loads(table_8p.read_text())
    mutate(table)
    path = write(tmp_path / "bad.json", table)
    with pytest.raises(RankTableError, match=message) as caught:
        rank_table.load_rank_table(path)
    assert str(caught.value).startswith(path)


def test_wrong_device_count_bad_json_and_missing_file(table_8p, tmp_path):
    with pytest.raises(RankTableError, match="lists 8 devices but the job asks for rank_size 16"):
        rank_table.load_rank_table(str(table_8p), expected_size=16)
    broken = tmp_path / "broken.json"
    broken.write_text(table_8p.read_text()[:-20])
    with pytest.raises(RankTableError, match=r"broken.json: not valid JSON .* line \d+"):
        rank_table.load_rank_table(str(broken))
    with pytest.raises(RankTableError, match="not found"):
        rank_table.load_rank_table(str(tmp_path / "absent.json"))


def test_merge_two_servers_renumbers_ranks(table_8p, tmp_path):
    second = cluster.write_server_table([0, 1], "10.0.0.2", {0: "192.100.0.1", 1: "192.100.0.2"},
                                        str(tmp_path))
    output = tmp_path / "merged.json"
    result = run_module("src.tools.cluster", "merge", str(table_8p), second, "--output", str(output))
    assert result.returncode == 0, result.stderr
    merged = rank_table.load_rank_table(str(output), expected_size=10)
    assert merged["server_count"] == "2"
    assert [s["server_id"] for s in merged["server_list"]] == ["10.0.0.1", "10.0.0.2"]
    ranks = [(s["server_id"], d["device_id"], d["rank_id"]) for s in merged["server_list"] for d in s["device"]]
    assert ranks[7:] == [("10.0.0.1", "7", "7"), ("10.0.0.2", "0", "8"), ("10.0.0.2", "1", "9")]
    assert rank_table.server_devices(merged, "10.0.0.2") == [(0, 8), (1, 9)]
    with pytest.raises(RankTableError, match="lists servers .*SERVER_ID"):
        rank_table.server_devices(merged)  # this machine is neither 10.0.0.1 nor 10.0.0.2
    # The same server twice cannot be merged.
    with pytest.raises(RankTableError, match="server 10.0.0.1 is listed twice"):
        rank_table.merge_rank_tables([str(table_8p), str(table_8p)])


def test_make_rank_table_orders_ranks_by_server_then_device():
    table = rank_table.make_rank_table([("10.0.0.5", [(2, "192.0.0.2"), (3, "192.0.0.3")]),
                                        ("10.0.0.6", [(0, "192.0.1.0")])])
    flat = [(s["server_id"], d["device_id"], d["rank_id"]) for s in table["server_list"] for d in s["device"]]
    assert flat == [("10.0.0.5", "2", "0"), ("10.0.0.5", "3", "1"), ("10.0.0.6", "0", "2")]
    original = copy.deepcopy(table)
    assert rank_table.validate_rank_table(table, expected_size=3) == original
