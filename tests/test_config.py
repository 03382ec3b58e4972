"""The shared configuration: YAML + command line, typed values, booleans, unknown keys."""
import os

import pytest

from src.config import ConfigError, get_config, load_config, parse_bool, save_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("text,expected", [("true", True), ("True", True), ("1", True), ("yes", True),
                                           ("false", False), ("False", False), ("0", False), ("no", False)])
def test_parse_bool(text, expected):
    assert parse_bool(text) is expected


def test_parse_bool_rejects_other_words():
    with pytest.raises(ConfigError):
        parse_bool("maybe")


def test_distributed_false_on_command_line_is_false():
    cfg = get_config(["--distributed", "False", "--no_eval", "true"])
    assert cfg.distributed is False and cfg.no_eval is True


def test_yaml_then_command_line_override_with_types(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: i3d\nlr: 0.01\nlr_de_epochs: [3, 6]\nsink_mode: 'True'\nbatch_size: 4\n")
    cfg = get_config(["--config_path", str(path), "--lr", "0.5", "--finetune_prefixes", "logits,Mixed_5"])
    assert cfg.lr == 0.5 and isinstance(cfg.lr, float)
    assert cfg.lr_de_epochs == [3, 6]
    assert cfg.sink_mode is True
    assert cfg.batch_size == 4
    assert cfg.finetune_prefixes == ["logits", "Mixed_5"]
    assert cfg.config_path == str(path)


def test_base_file_is_loaded_first(tmp_path):
    (tmp_path / "base.yaml").write_text("lr: 0.1\nbatch_size: 2\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nbatch_size: 3\n")
    cfg = load_config(str(tmp_path / "child.yaml"))
    assert (cfg.lr, cfg.batch_size) == (0.1, 3)


def test_unknown_yaml_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"learning_rate.*bad\.yaml"):
        load_config(str(path))


def test_unknown_command_line_flag_is_an_error(capsys):
    with pytest.raises(SystemExit):
        get_config(["--learning_rate", "0.1"])
    assert "learning_rate" in capsys.readouterr().err


def test_bad_value_and_choice_are_errors():
    with pytest.raises(ConfigError, match="batch_size"):
        load_config("", {"batch_size": "four"})
    with pytest.raises(ConfigError, match="device_target"):
        load_config("", {"device_target": "TPU"})


def test_resolved_config_is_saved(tmp_path):
    cfg = load_config("", {"lr": "0.2"})
    path = save_config(cfg, str(tmp_path))
    assert load_config(path).lr == 0.2


def test_every_shipped_config_loads():
    configs = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(ROOT, "configs"))
               for f in files if f.endswith(".yaml")]
    assert configs
    for path in configs:
        load_config(path)


def test_former_normalize_name_still_reads_as_its_new_name(tmp_path):
    (tmp_path / "old.yaml").write_text("normalize: i3d\n")
    assert load_config(str(tmp_path / "old.yaml"), {}).normalize == "minus_one_to_one"
    assert get_config(["--normalize", "i3d"]).normalize == "minus_one_to_one"
    assert load_config("configs/i3d/ucf101_rgb.yaml", {}).normalize == "minus_one_to_one"
    with pytest.raises((ConfigError, SystemExit)):
        get_config(["--normalize", "i3dx"])
