"""benchmarks/gpu_check.py on the CPU: the whole command with --device cpu (every check shares its code
with the CUDA run but for the device), its summary lines, reports and exit code; the failure, skip,
missing-package and budget paths; the wheels prepare mode (offline) and the offline wheel install."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks import gpu_check as gpu
from tests.conftest import REPO

LINE = re.compile(r"^(PASS|FAIL|SKIP) (engine|finetune|weights|tests) +\d+\.\ds  \S.*$")
TOTAL = re.compile(r"^TOTAL (PASS|FAIL) \d+\.\ds: \d+ checks, \d+ passed, \d+ failed, \d+ skipped")
# two cheap CUDA-dependent tests (one runs the engine on the device, one is guarded by CUDA's absence)
CHEAP_TESTS = ("tests/test_transformers_engine.py::test_end_of_text_ends_a_row_early,"
               "tests/test_finetune.py::test_4bit_without_cuda_is_a_clear_error")


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    """The one command, as on the GPU machine but with --device cpu (the suite selection narrowed)."""
    out = tmp_path_factory.mktemp("gpu-check-out")
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu", "--out", str(out),
                           "--tests", CHEAP_TESTS], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    return proc, out


def test_the_cpu_run_passes_every_check_with_one_line_each(cpu_run):
    proc, out = cpu_run
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert lines[0].startswith("gpu_check: python ")
    summary = lines[-5:]
    assert [LINE.match(x).group(2) for x in summary[:4]] == list(gpu.CHECKS), summary
    assert all(x.startswith("PASS ") for x in summary[:4]), summary
    assert TOTAL.match(summary[4]) and summary[4].startswith("TOTAL PASS") and "4 passed, 0 failed" in summary[4]
    for name in gpu.CHECKS:  # progress on stderr, the checks' own output in the log
        assert f"[{name}] PASS in" in proc.stderr
    assert (out / "gpu_check.log").stat().st_size > 0


def test_the_cpu_run_writes_its_figures(cpu_run):
    proc, out = cpu_run
    data = json.loads((out / "gpu_check.json").read_text())
    assert data["status"] == "PASS" and data["device"] == "cpu" and data["budget_s"] is None
    checks = {c["name"]: c for c in data["checks"]}
    assert list(checks) == list(gpu.CHECKS) and {c["status"] for c in checks.values()} == {"PASS"}
    engine = checks["engine"]["figures"]
    assert (engine["questions"], engine["answered"], engine["parse_failures"]) == (96, 96, 0)
    assert engine["dtype"] == "float32" and engine["device"] == "CPU" and 1 <= engine["batch_size"] <= 16
    assert engine["tasks"] == len({json.loads(x)["task_name"] for x in gpu.DEV_FILE.read_text().splitlines() if x.strip()})
    tune = checks["finetune"]["figures"]
    assert tune["steps"] == 8 and tune["dtype"] == "float32" and tune["rows"] == 16
    assert tune["loss_after"] < tune["loss_before"] - 0.1 and tune["eot_loss_after"] < tune["eot_loss_before"]
    weights = checks["weights"]["figures"]
    assert weights["average_vs_mean_weights"] < 1e-6 and weights["average_vs_mean_logits"] < 1e-5
    assert weights["wiseft_alpha0_weights"] == 0.0 == weights["wiseft_alpha1_weights"]
    assert weights["merge_fp16_rounding_vs_bound"] <= 1.0 and weights["merge_rerun"] == 0.0
    assert weights["pad_logits_fp32"] < 5e-6
    tests = checks["tests"]["figures"]
    assert (tests["passed"], tests["failed"], tests["skipped"]) == (2, 0, 0)
    assert (out / "suite_tests.xml").is_file()
    md = (out / "gpu_check.md").read_text()
    assert md.startswith("# GPU check (the CPU run: --device cpu)") and "| engine | PASS |" in md and "TOTAL PASS" in md
    # what comes back from the device tool: at most 8 files, plain names
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.log", "gpu_check.md",
                                                     "suite_tests.xml"]


# ---- the paths the CPU run does not take ---------------------------------------------------------------

@pytest.fixture
def isolated(monkeypatch):
    """main() in this process without leaking its environment settings (CUDA_VISIBLE_DEVICES, ...)."""
    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.setattr(sys, "path", list(sys.path))
    os.environ.pop("OUT", None)


def test_a_failing_check_fails_the_run_and_the_others_still_run(isolated, monkeypatch, tmp_path, capsys):
    def broken(ctx):
        raise gpu.CheckFailed("pad_logits_fp32: 0.001 (wanted < 5e-6)")

    def fine(ctx):
        return "fine", {"x": 1}

    monkeypatch.setattr(gpu, "CHECK_FUNCS", {"engine": fine, "finetune": fine, "weights": broken, "tests": fine})
    assert gpu.main(["--device", "cpu", "--out", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()[-5:]
    assert [x.split()[0] for x in lines] == ["PASS", "PASS", "FAIL", "PASS", "TOTAL"]
    assert lines[2].startswith("FAIL weights") and lines[2].endswith("pad_logits_fp32: 0.001 (wanted < 5e-6)")
    assert lines[4].startswith("TOTAL FAIL") and "3 passed, 1 failed, 0 skipped" in lines[4]
    assert json.loads((tmp_path / "gpu_check.json").read_text())["status"] == "FAIL"
    assert "CheckFailed" in (tmp_path / "gpu_check.log").read_text()  # the traceback is kept


def test_a_missing_package_skips_its_check_naming_it(isolated, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(gpu.REQUIRES, "tests", (("no_such_module_gpu_check", "no-such-dist"),))
    monkeypatch.setattr(gpu, "CHECK_FUNCS", {**gpu.CHECK_FUNCS, "tests": lambda ctx: pytest.fail("must not run")})
    assert gpu.main(["--device", "cpu", "--only", "tests", "--out", str(tmp_path)]) == 0
    line, total = capsys.readouterr().out.strip().splitlines()[-2:]
    assert LINE.match(line) and line.startswith("SKIP tests")
    assert "missing package(s) no-such-dist" in line and "--wheels .cache/gpu-wheels" in line
    assert total.startswith("TOTAL PASS") and "0 passed, 0 failed, 1 skipped" in total


def test_cuda_without_a_gpu_fails_each_check_with_the_reason(isolated, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert gpu.main(["--device", "cuda", "--only", "engine", "--out", str(tmp_path)]) == 1
    line = capsys.readouterr().out.strip().splitlines()[-2]
    assert line.startswith("FAIL engine") and "sees no CUDA GPU" in line


def test_the_budget_fails_a_slow_run():
    results = [gpu.Result("engine", "PASS", 1.0, "ok")]
    assert gpu.total_line(results, 500.0, 480.0).startswith("TOTAL FAIL 500.0s")
    assert "OVER the 480s budget" in gpu.total_line(results, 500.0, 480.0)
    assert gpu.total_line(results, 100.0, 480.0).startswith("TOTAL PASS") and "budget 480s" in gpu.total_line(results, 100.0, 480.0)
    assert gpu.total_line(results, 9999.0, None).startswith("TOTAL PASS")  # no budget on the CPU
    assert gpu.Result("weights", "FAIL", 2.345, "a\nb  c").line() == "FAIL weights      2.3s  a b c"


def test_the_tests_check_reports_skips_with_their_reason_and_failures(tmp_path):
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "test_fake_cuda.py").write_text(
        "import pytest\n\n"
        "def test_needs_cuda():\n    pytest.skip('needs CUDA, none here')\n\n"
        "def test_also_needs_cuda():\n    pytest.skip('needs CUDA, none here')\n")
    ctx = gpu.Context("cpu", tmp_path / "work", tmp_path, 8, [str(folder / "test_fake_cuda.py")], None, 0.0)
    with pytest.raises(gpu.Skip) as why:
        gpu.check_tests(ctx)
    assert "0 passed, 0 failed, 2 skipped of 2" in str(why.value) and "skipped: needs CUDA, none here" in str(why.value)
    assert why.value.figures["skipped"] == 2 and len(why.value.figures["skips"]) == 2

    (folder / "test_fake_cuda.py").write_text("def test_ok():\n    pass\n\ndef test_bad():\n    assert 1 == 2\n")
    with pytest.raises(gpu.CheckFailed, match=r"1 passed, 1 failed, 0 skipped of 2.*first failure: .*test_bad"):
        gpu.check_tests(ctx)


def test_the_default_suite_selection_names_existing_tests():
    for node in [*gpu.SUITE_TESTS, *gpu.SUITE_EXCLUDED]:
        path, _, name = node.partition("::")
        source = (REPO / path).read_text()
        assert not name or f"def {name}(" in source, node


# ---- the parse check -----------------------------------------------------------------------------------

def test_parse_problem_applies_the_assert_parses_rules():
    mc = "Which is a fruit?\n0. apple\n1. chair\n2. lamp\nAnswer: "
    assert gpu.parse_problem(mc, True, "0") is None
    assert "not one of" in gpu.parse_problem(mc, True, "7")
    assert "empty" in gpu.parse_problem(mc, True, "  ")
    rank = "Rank the products by relevance to 'tent'.\n1. a\n2. b\n3. c\n4. d\n5. e\nOutput:"
    assert gpu.parse_problem(rank, False, "3,1,2,5,4") is None
    assert gpu.parse_problem(rank, False, "3,1,2") is not None  # every scored candidate once
    assert gpu.parse_problem(rank, False, "1,1,2,3,4") is not None
    assert gpu.parse_problem("Explain the product type Handbag\nOutput:", False, "a bag") is None
    assert gpu.parse_problem("Explain the product type Handbag\nOutput:", False, None) is not None


# ---- wheels --------------------------------------------------------------------------------------------

def test_every_package_the_check_imports_is_in_the_device_image():
    assert gpu.needed_wheels() == []  # so nothing has to travel; see DEVICE_PACKAGES


def test_prepare_mode_needs_no_download_and_checks_the_size(monkeypatch, tmp_path, capsys):
    def no_download(wanted, folder):
        raise AssertionError(f"nothing should be downloaded, asked for {wanted}")

    tree = gpu.tree_size()
    assert 0 < tree < gpu.TREE_LIMIT  # the working tree alone travels (about 10 MiB)
    assert gpu.prepare_wheels(tmp_path / "w", download=no_download) == 0
    assert "none needed" in (tmp_path / "w" / "WHEELS.txt").read_text()
    out = capsys.readouterr().out
    assert "of the device tool's 64 MiB" in out and "none needed" in out

    def fake_download(wanted, folder):
        assert wanted == ["fakepkg==1.0"]
        (folder / "fakepkg-1.0-py3-none-any.whl").write_bytes(b"\0" * 4096)

    monkeypatch.setattr(gpu, "tree_size", lambda repo=None: 10 * 2**20)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "fakepkg-0.9-py3-none-any.whl").write_bytes(b"old")  # a stale version is removed
    assert gpu.prepare_wheels(tmp_path / "x", ["fakepkg==1.0"], download=fake_download) == 0
    assert sorted(p.name for p in (tmp_path / "x").glob("*.whl")) == ["fakepkg-1.0-py3-none-any.whl"]
    assert "fakepkg-1.0-py3-none-any.whl" in (tmp_path / "x" / "WHEELS.txt").read_text()
    # working tree + wheels larger than what the tool carries
    assert gpu.prepare_wheels(tmp_path / "x", ["fakepkg==1.0"], limit=10 * 2**20 + 1024, download=fake_download) == 1
    assert "too large" in capsys.readouterr().err

    def offline(wanted, folder):
        raise subprocess.CalledProcessError(1, ["pip", "download"])

    assert gpu.prepare_wheels(tmp_path / "y", ["fakepkg==1.0"], download=offline) == 1
    assert "could not download fakepkg==1.0" in capsys.readouterr().err


def test_pinned_wheels_are_the_training_pins_the_cpu_tests_ran(isolated, monkeypatch, tmp_path):
    from importlib import metadata

    pins = gpu.pinned_wheels()
    assert [p.split("==")[0] for p in pins] == ["transformers", "peft"]
    assert pins == [f"{name}=={metadata.version(name)}" for name in ("transformers", "peft")]
    assert all(p in (REPO / "requirements-train.txt").read_text() for p in pins)
    asked = []
    monkeypatch.setattr(gpu, "pip_download", lambda wanted, folder: asked.extend(wanted))
    assert gpu.main(["--wheels", str(tmp_path / "w"), "--pinned", "--wheel", "extra==1.0"]) == 0
    assert asked == [*pins, "extra==1.0"]


def _wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (one module), with its RECORD."""
    files = {"gpucheckprobe/__init__.py": b"VALUE = 42\n",
             "gpucheckprobe-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: gpucheckprobe\nVersion: 0.1\n",
             "gpucheckprobe-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                  b"Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for name, data in files.items()) + "gpucheckprobe-0.1.dist-info/RECORD,,\n"
    path = folder / "gpucheckprobe-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("gpucheckprobe-0.1.dist-info/RECORD", record)
    return path


def test_carried_wheels_install_offline_before_the_checks(isolated, tmp_path):
    (tmp_path / "wheels").mkdir()
    assert gpu.install_wheels(tmp_path / "wheels", tmp_path / "site") == []  # an empty folder: nothing
    assert gpu.install_wheels(tmp_path / "not-there", tmp_path / "site") == []
    _wheel(tmp_path / "wheels")
    assert gpu.install_wheels(tmp_path / "wheels", tmp_path / "site") == ["gpucheckprobe-0.1-py3-none-any.whl"]
    assert sys.path[0] == str(tmp_path / "site")
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "site")  # for the pytest subprocess
    probe = subprocess.run([sys.executable, "-c", "import gpucheckprobe; print(gpucheckprobe.VALUE)"],
                           env=os.environ, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "42"
