"""Automatic precision picks bf16 only where the CPU computes it natively (else it is slower than fp32)."""

from __future__ import annotations

from pathlib import Path

from newsindex.encoder import NATIVE_BF16_FLAGS, cpu_flags


def _cpuinfo(tmp_path: Path, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n", encoding="utf-8")
    return str(path)


def test_cpu_without_avx512_bf16_has_no_native_bf16(tmp_path: Path) -> None:
    flags = cpu_flags(_cpuinfo(tmp_path, "fpu sse2 avx2 avx512f avx512bw avx512vl avx512_vnni"))
    assert flags is not None and "avx512f" in flags
    assert not flags & NATIVE_BF16_FLAGS


def test_cpu_with_avx512_bf16_or_amx_has_native_bf16(tmp_path: Path) -> None:
    for extra in ("avx512_bf16", "amx_bf16"):
        flags = cpu_flags(_cpuinfo(tmp_path, f"fpu avx512f {extra}"))
        assert flags is not None and flags & NATIVE_BF16_FLAGS


def test_no_cpuinfo_means_unknown_not_unsupported(tmp_path: Path) -> None:
    assert cpu_flags(str(tmp_path / "absent")) is None
