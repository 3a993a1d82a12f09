"""tests/machine_pins.py: the CPU model that names a machine kind, on Linux and where /proc/cpuinfo is absent."""
from __future__ import annotations

import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_pins import cpu_model, kind_name  # noqa: E402


def test_model_name_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
    assert cpu_model(info) == "AMD EPYC 7B13"


def test_without_cpuinfo_falls_back_to_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    assert cpu_model(tmp_path / "absent") == "arm"
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert cpu_model(tmp_path / "absent") == "arm64"


def test_cpuinfo_without_model_name_falls_back(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nCPU implementer\t: 0x41\n")  # an ARM Linux: no "model name" line
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert cpu_model(info) == "aarch64"
    monkeypatch.setattr(platform, "machine", lambda: "")
    assert cpu_model(info) == "unknown"


def test_kind_name_is_lower_case_and_dashes():
    assert kind_name({"cpu": "Intel(R) Xeon(R) Processor", "cpu_capability": "AVX512"}) == \
        "intel-r-xeon-r-processor-avx512"
    assert kind_name({"cpu": "AMD EPYC", "cpu_capability": None}) == "amd-epyc"
