"""The shared configuration: YAML + command line, typed values, booleans, unknown keys."""
import os

import pytest

from src.config import get_config, load_config, save_config
from src.options import ConfigError, parse_bool

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


# --- numbers are finite, seeds are not negative -------------------------------------------------

FLOAT_KEYS = ["lr", "lr_de_rate", "weight_decay", "momentum", "clip_grad_norm", "label_smoothing", "mixup_alpha",
              "warmup_start_factor", "dropout_keep_prob", "rgb_weight", "bmn_loss_eps", "soft_nms_alpha",
              "widen_factor", "prop_boundary_ratio", "bn_momentum", "max_bad_sample_ratio"]


def test_every_float_key_is_checked_here():
    from src.config import all_options
    from src.options import number
    floats = {opt.name for opt in all_options() if opt.parse.__name__ in ("float", "optional[float]")}
    assert floats == set(FLOAT_KEYS) | {"soft_nms_low_threshold", "soft_nms_high_threshold"}
    assert all(opt.parse is not float for opt in all_options())
    assert number("1e-3") == 0.001 and number(2) == 2.0


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_non_finite_numbers_are_refused_naming_key_and_value(key, text):
    with pytest.raises(ConfigError, match=rf"'{key}'.*command line.*expected a finite number.*got '{text}'"):
        load_config("", {key: text})


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf"])
def test_non_finite_yaml_numbers_are_refused(tmp_path, text):
    (tmp_path / "run.yaml").write_text(f"lr: {text}\n")
    with pytest.raises(ConfigError, match=r"'lr'.*run\.yaml.*expected a finite number > 0, got -?(nan|inf)"):
        load_config(str(tmp_path / "run.yaml"))


def test_non_finite_list_items_are_refused():
    with pytest.raises(ConfigError, match=r"'std'.*finite number > 0.*inf"):
        load_config("", {"std": "0.2,inf,0.2"})
    with pytest.raises(ConfigError, match=r"'mean'.*expected a finite number, got 'nan'"):
        load_config("", {"mean": "0.5,nan,0.5"})


def test_command_line_nan_is_one_error_line_with_exit_code_2(capsys):
    with pytest.raises(SystemExit) as stop:
        get_config(["--lr", "nan"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert "error: bad value for 'lr' (from command line): expected a finite number > 0, got 'nan'" in err


@pytest.mark.parametrize("seed", ["-1", "-7", str(2 ** 32)])
def test_negative_or_too_large_seed_is_refused(seed):
    with pytest.raises(ConfigError, match=rf"'seed'.*must be >= 0 and <= {2 ** 32 - 1}, got {seed}"):
        load_config("", {"seed": seed})
    assert load_config("", {"seed": "0"}).seed == 0 and load_config("", {"seed": str(2 ** 32 - 1)}).seed == 2 ** 32 - 1


# --- model keys live with their models ----------------------------------------------------------

MOVED = {"model_depth": ("resnet3d", "tsn", "pptsn"), "shortcut_type": ("resnet3d",), "widen_factor": ("resnet3d",),
         "no_max_pool": ("resnet3d",), "conv1_t_size": ("resnet3d",), "conv1_t_stride": ("resnet3d",),
         "bn_momentum": ("i3d",), "partial_bn": ("tsn", "pptsn"), "num_sample": ("bmn",),
         "num_sample_perbin": ("bmn",), "prop_boundary_ratio": ("bmn",), "pem_channels": ("bmn",)}


def test_model_keys_are_declared_by_their_models_not_in_the_shared_list():
    from src.config import all_options
    from src.models.registry import model_options
    from src.options import OPTIONS
    shared = {opt.name for opt in OPTIONS}
    assert not shared & set(MOVED)
    assert {"tscale", "feat_dim", "bm_layout", "num_segments", "dropout_keep_prob"} <= shared
    for key, models in MOVED.items():
        for model in models:
            assert key in {opt.name for opt in model_options(model)}, (key, model)
    names = [opt.name for opt in all_options()]
    assert len(names) == len(set(names)) and set(MOVED) <= set(names)


def test_model_keys_keep_their_types_from_yaml_and_command_line(tmp_path):
    (tmp_path / "run.yaml").write_text("model: resnet3d\nmodel_depth: 18\nno_max_pool: 'yes'\nwiden_factor: 2\n")
    cfg = get_config(["--config_path", str(tmp_path / "run.yaml"), "--conv1_t_size", "3", "--partial_bn", "False",
                      "--bn_momentum", "none", "--pem_channels", "128"])
    assert cfg.model_depth == 18 and cfg.no_max_pool is True and cfg.widen_factor == 2.0
    assert cfg.conv1_t_size == 3 and cfg.partial_bn is False and cfg.bn_momentum is None and cfg.pem_channels == 128
    assert load_config("").shortcut_type == "B" and load_config("").num_sample == 32
    with pytest.raises(ConfigError, match=r"'shortcut_type'.*expected one of \['A', 'B'\]"):
        load_config("", {"shortcut_type": "C"})
    with pytest.raises(ConfigError, match=r"'partial_bn'.*true/false"):
        load_config("", {"partial_bn": "maybe"})


def test_option_declarations_import_no_model_code():
    """Models declare their keys with src.options, so it must not load them (nor MindSpore)."""
    import subprocess
    import sys
    code = "import sys, src.options; assert 'src.models' not in sys.modules and 'mindspore' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_entry_point_help_keeps_its_bullets(capsys):
    description = "Title.\n\n* first point;\n* second point.\n"
    with pytest.raises(SystemExit):
        get_config(["--help"], description=description)
    assert "\n* first point;\n* second point.\n" in capsys.readouterr().out
