"""Every command of the READMEs' and the documentation's code blocks, and every launcher's usage
example, runs as written; each English document and its Chinese twin document the same commands.

Each command is checked in the form that fits it, without data or devices:

* entry points (train/eval/export/preprocess/postprocess.py): the command's arguments resolve into a
  configuration (every key known, every value typed, the config file found) exactly as the entry
  point would resolve them;
* ``python config.py ...``: run as written;
* ``python -m <tool> ...``: the tool's own parser accepts the arguments (``--help`` exits 0);
* launchers with concrete arguments: run with ``DRY_RUN=1`` (nothing starts; missing data is only
  noted), and the train.py / eval.py / preprocess.py commands they print resolve as above;
* launchers written with ``[placeholders]`` or run without arguments: ``--help`` exits 0 and the
  number of placeholders is one the launcher accepts;
* benchmarks: their parser accepts the arguments (``... --help``);
* the C++ inference program: every flag of the command is one its usage names; its build and
  syntax-check scripts run (they stop with their documented message where the library is missing);
* ``source scripts/<file>.sh``: the file exists and bash parses it (sourcing it would install).

A command no rule covers fails the test, so a new kind of command gets a check when it is added.
"""
import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from typing import Dict, List, NamedTuple, Tuple

import pytest

from src.config import get_config
from src.options import OPTIONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READMES = ("README.md", "README_CN.md")
DOC_LANGUAGES = ("en", "zh")


def document_pairs() -> List[Tuple[str, str]]:
    """(English, Chinese) twins: the READMEs, and docs/en/X.md with docs/zh/X.md (either may be missing)."""
    names = set()
    for language in DOC_LANGUAGES:
        folder = os.path.join(ROOT, "docs", language)
        if os.path.isdir(folder):
            names |= {name for name in os.listdir(folder) if name.endswith(".md")}
    return [READMES] + [(f"docs/en/{name}", f"docs/zh/{name}") for name in sorted(names)]


DOCUMENT_PAIRS = document_pairs()
DOCUMENTS = tuple(path for pair in DOCUMENT_PAIRS for path in pair
                  if os.path.isfile(os.path.join(ROOT, path)))
ENTRY_POINTS = {"train.py", "eval.py", "export.py", "preprocess.py", "postprocess.py"}
DRY_RUN_LAUNCHERS = {"run_distribute_train.sh", "run_standalone_train.sh", "run_single_eval.sh",
                     "run_joint_eval.sh", "run_preprocess.sh"}
TIMEOUT_S = 120


class Command(NamedTuple):
    env: Tuple[Tuple[str, str], ...]
    argv: Tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join([f"{name}={value}" for name, value in self.env] + [shlex.quote(a) for a in self.argv])


def _split(line: str) -> Command:
    # "[--flag VALUE]" is an optional part: checked as if given.
    tokens = shlex.split(re.sub(r"\[(--[^\]]*)\]", r"\1", line), comments=True)
    env = []
    while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
        name, value = tokens.pop(0).split("=", 1)
        env.append((name, value))
    argv = [token for token in tokens if token != "..."]  # "...": more arguments as needed
    return Command(tuple(env), tuple(argv))


def commands_of_text(text: str, block_pattern: str) -> List[Command]:
    commands = []
    for block in re.findall(block_pattern, text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.strip().startswith("#"):
                commands.append(_split(line.strip()))
    return commands


def readme_commands() -> Dict[Command, List[str]]:
    """Unique commands of the ```bash blocks of the READMEs and docs/{en,zh}/*.md -> where each is written."""
    found: Dict[Command, List[str]] = {}
    for name in DOCUMENTS:
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            for command in commands_of_text(handle.read(), r"```bash\n(.*?)```"):
                found.setdefault(command, []).append(name)
    return found


def run(argv, env=(), cwd=ROOT, timeout=TIMEOUT_S) -> subprocess.CompletedProcess:
    environment = dict(os.environ, SKIP_SETUP="1", PYTHONPATH=ROOT, **dict(env))
    environment["PATH"] = os.path.dirname(sys.executable) + os.pathsep + environment.get("PATH", "")
    return subprocess.run(list(argv), cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout, check=False)


def check_configuration(args, where: str) -> None:
    """The arguments resolve into a configuration as an entry point resolves them."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            get_config(list(args))
    except SystemExit as exc:
        error = [line for line in stderr.getvalue().splitlines() if "error" in line] or [stderr.getvalue()]
        pytest.fail(f"{where}: the arguments do not resolve (exit {exc.code}): {error[-1].strip()}")


def check_tool(module_name: str, args, where: str) -> None:
    """``python -m module_name args``: the tool's parser accepts the arguments."""
    try:
        module = importlib.import_module(module_name)
        if hasattr(module, "__path__"):  # a package runs as its __main__ module
            module = importlib.import_module(f"{module_name}.__main__")
    except ImportError as err:
        pytest.fail(f"{where}: module {module_name} cannot be imported ({err})")
    if not hasattr(module, "build_parser"):
        pytest.fail(f"{where}: {module_name} has no build_parser() (the tools' convention, src/tools/cli.py)")
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            module.build_parser().parse_args(list(args))
    except SystemExit as exc:
        if exc.code != 0:
            pytest.fail(f"{where}: {module_name} rejects the arguments: {output.getvalue().strip()}")
        assert output.getvalue().strip(), f"{where}: --help printed nothing"


def launcher_counts(script: str) -> List[int]:
    """Argument counts a launcher accepts (its ``zoo_require_args`` call), empty when it checks otherwise."""
    with open(os.path.join(ROOT, script), encoding="utf-8") as handle:
        match = re.search(r"^zoo_require_args ([\d ]+) --", handle.read(), re.M)
    return [int(count) for count in match.group(1).split()] if match else []


def check_help(argv, env, where: str) -> str:
    result = run(list(argv) + ["--help"], env)
    assert result.returncode == 0, f"{where}: --help exits {result.returncode}: {result.stderr[-600:]}"
    text = result.stdout + result.stderr
    assert "usage" in text.lower() or "Usage" in text, f"{where}: --help shows no usage:\n{text[-600:]}"
    return text


PRINTED_PROGRAMS = ("train.py", "eval.py", "preprocess.py")


def check_printed_commands(output: str, where: str) -> int:
    """The train.py / eval.py / preprocess.py commands a dry run printed resolve; returns how many."""
    checked = 0
    for line in output.splitlines():
        tokens = shlex.split(line.split("] ", 1)[-1])
        starts = [i for i, token in enumerate(tokens) if os.path.basename(token) in PRINTED_PROGRAMS]
        if not starts:
            continue
        args = tokens[starts[0] + 1:]
        args = args[:args.index(">")] if ">" in args else args
        check_configuration(args, f"{where}, printed command")
        checked += 1
    return checked


def check_launcher(command: Command, where: str, tmp_path) -> None:
    script, args = command.argv[1], command.argv[2:]
    assert os.path.isfile(os.path.join(ROOT, script)), f"{where}: {script} does not exist"
    name = os.path.basename(script)
    placeholders = [arg for arg in args if re.fullmatch(r"\[\w+\]", arg)]
    if placeholders or not args or name not in DRY_RUN_LAUNCHERS:
        check_help(command.argv[:2], command.env, where)
        counts = launcher_counts(script)
        if placeholders and counts:
            assert len(args) in counts, f"{where}: {len(args)} arguments written, {script} takes {counts}"
        return
    # From an empty folder, so that a dry run writing anything would show; the script by its
    # absolute path (relative config paths fall back to the repository, as for any user).
    argv = (command.argv[0], os.path.join(ROOT, script)) + args
    result = run(argv, command.env + (("DRY_RUN", "1"),), cwd=str(tmp_path))
    assert result.returncode == 0, f"{where}: the dry run exits {result.returncode}: {result.stderr[-800:]}"
    assert check_printed_commands(result.stdout, where) >= 1, f"{where}: the dry run printed no command"
    assert not os.listdir(tmp_path), f"{where}: the dry run wrote {os.listdir(tmp_path)}"


def check_cpp_program(command: Command, where: str) -> None:
    with open(os.path.join(ROOT, "ascend_310_infer", "src", "main.cc"), encoding="utf-8") as handle:
        usage = re.search(r'kUsage(?:\[\])?\s*=\s*((?:\s*"[^"]*")+)', handle.read()).group(1)
    flags = set(re.findall(r"--\w+", usage))
    written = {arg for arg in command.argv[1:] if arg.startswith("--")}
    assert written <= flags, f"{where}: {sorted(written - flags)} are not flags of the program ({sorted(flags)})"


def check_cpp_script(command: Command, where: str) -> None:
    result = run(command.argv, command.env)
    if result.returncode != 0:
        # Without the MindSpore C++ library (pip wheels) build.sh stops saying so, as documented.
        assert "libmindspore.so" in result.stderr, f"{where}: exits {result.returncode}: {result.stderr[-600:]}"


def check_command(command: Command, where: str, tmp_path) -> None:
    argv = command.argv
    if argv[0] == "python" and len(argv) > 1 and argv[1] == "config.py":
        result = run(argv, command.env)
        assert result.returncode == 0, f"{where}: exits {result.returncode}: {result.stderr[-600:]}"
    elif argv[0] == "python" and len(argv) > 1 and argv[1] in ENTRY_POINTS:
        check_configuration(argv[2:], where)
    elif argv[0] == "python" and len(argv) > 2 and argv[1] == "-m":
        check_tool(argv[2], argv[3:], where)
    elif argv[0] == "python" and len(argv) > 1 and argv[1].startswith("benchmarks/"):
        assert os.path.isfile(os.path.join(ROOT, argv[1])), f"{where}: {argv[1]} does not exist"
        check_help(argv, command.env, where)
    elif argv[0] == "bash" and len(argv) > 1 and argv[1].startswith("scripts/"):
        check_launcher(command, where, tmp_path)
    elif argv[0] == "bash" and len(argv) > 1 and argv[1].startswith("ascend_310_infer/"):
        check_cpp_script(command, where)
    elif argv[0] == "ascend_310_infer/out/main":
        check_cpp_program(command, where)
    elif argv[0] in ("source", ".") and len(argv) == 2 and argv[1].startswith("scripts/"):
        assert os.path.isfile(os.path.join(ROOT, argv[1])), f"{where}: {argv[1]} does not exist"
        result = run(["bash", "-n", argv[1]])
        assert result.returncode == 0, f"{where}: bash cannot parse {argv[1]}: {result.stderr[-600:]}"
    else:
        pytest.fail(f"{where}: no check for this kind of command; add one to {os.path.basename(__file__)}")


README_COMMANDS = readme_commands()


@pytest.mark.parametrize("command", list(README_COMMANDS), ids=[c.text[:80] for c in README_COMMANDS])
def test_readme_command_runs_as_written(command, tmp_path):
    check_command(command, f"{' and '.join(README_COMMANDS[command])}: {command.text}", tmp_path)


@pytest.mark.parametrize("english, chinese", DOCUMENT_PAIRS, ids=[english for english, _ in DOCUMENT_PAIRS])
def test_english_and_chinese_twins_document_the_same_commands(english, chinese):
    missing = [name for name in (english, chinese) if not os.path.isfile(os.path.join(ROOT, name))]
    assert not missing, f"{english} and {chinese} are twins, but {missing} does not exist"
    by_file = {name: {c for c, files in README_COMMANDS.items() if name in files} for name in (english, chinese)}
    only = {name: sorted(c.text for c in by_file[name] - by_file[other])
            for name, other in ((english, chinese), (chinese, english))}
    assert not any(only.values()), f"commands documented in one of the twins only: {only}"


def launcher_usage_examples() -> List[Tuple[str, Command]]:
    """The ``Example:`` commands of every launcher's usage text (scripts/*.sh)."""
    examples = []
    for name in sorted(os.listdir(os.path.join(ROOT, "scripts"))):
        with open(os.path.join(ROOT, "scripts", name), encoding="utf-8") as handle:
            text = handle.read()
        for command in commands_of_text(text, r"Example: (.*?)\n(?!\s{6,})"):
            examples.append((name, command))
    return examples


LAUNCHER_EXAMPLES = launcher_usage_examples()


@pytest.mark.parametrize("script, command", LAUNCHER_EXAMPLES, ids=[name for name, _ in LAUNCHER_EXAMPLES])
def test_launcher_usage_example_runs_as_written(script, command, tmp_path):
    check_command(command, f"usage of scripts/{script}: {command.text}", tmp_path)


def test_launchers_answer_help_with_their_usage():
    for name in sorted(os.listdir(os.path.join(ROOT, "scripts"))):
        if name in ("common.sh", "setup_env.sh", "run_tests.sh"):
            continue  # helpers, and the test runner whose --help is pytest's
        text = check_help(["bash", f"scripts/{name}"], (), f"scripts/{name}")
        assert "error" not in text.lower(), f"scripts/{name} --help reports an error:\n{text[:400]}"
        for config in re.findall(r"configs/[\w/<>]+\.yaml", text):
            if "<" not in config:
                assert os.path.isfile(os.path.join(ROOT, config)), f"scripts/{name} usage names missing {config}"


def test_config_help_shows_each_default_once():
    result = run(["python", "config.py", "--help"])
    assert result.returncode == 0, result.stderr
    blocks = re.split(r"\n  (?=--\w)", result.stdout)[1:]
    keys = {re.match(r"--(\w+)", block).group(1): block for block in blocks}
    assert set(keys) >= {opt.name for opt in OPTIONS}
    repeated = {key: block.count("default") for key, block in keys.items() if block.count("(default") != 1}
    assert not repeated, f"options whose --help does not show the default exactly once: {repeated}"


def test_documents_cite_only_files_of_the_repository():
    """README, documentation, launcher and benchmark texts name files that exist (no notes kept outside
    the repository), and the documents' relative links point at files of the repository."""
    texts = list(DOCUMENTS) + [os.path.join("scripts", name) for name in os.listdir(os.path.join(ROOT, "scripts"))]
    texts += [os.path.join("benchmarks", name) for name in os.listdir(os.path.join(ROOT, "benchmarks"))
              if name.endswith(".py")]
    pattern = re.compile(r"(?<![\w/.<-])((?:configs|scripts|benchmarks|src|tests|ascend_310_infer|docs)/[\w/.-]*\w"
                         r"\.(?:py|sh|yaml|md|cc|h|txt|png))\b")
    missing = {}
    for name in texts:
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            text = handle.read()
        cited = set(pattern.findall(text)) | set(re.findall(r"\b[A-Z_]+\.md\b", text))
        absent = sorted(path for path in cited if not os.path.exists(os.path.join(ROOT, path))
                        and not os.path.exists(os.path.join(ROOT, os.path.basename(path))))
        if name.endswith(".md"):  # relative links ](target) and ](target#anchor), from the document's folder
            for target in re.findall(r"\]\((?!https?://|#|mailto:)([^)#\s]+)", text):
                if not os.path.exists(os.path.normpath(os.path.join(ROOT, os.path.dirname(name), target))):
                    absent.append(f"link {target}")
        if absent:
            missing[name] = absent
    assert not missing, f"files cited but not in the repository: {missing}"
