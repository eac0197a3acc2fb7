"""``--config`` study files: a TOML string is read like the command-line text."""

from __future__ import annotations

import pytest

from thermognn.cli.common import resolve_config
from thermognn.cli.main import build_parser
from thermognn.errors import ThermognnError

SAMPLE = ["sample", "--db", "x.db", "--material", "Ag3SBr", "--scheme", "random", "--n", "2"]


def _sample_args(tmp_path, text: str):
    config = tmp_path / "study.toml"
    config.write_text(text)
    args = build_parser().parse_args([*SAMPLE, "--config", str(config)])
    resolve_config(args, args.parser, "sample")
    return args


def test_toml_strings_go_through_the_option_type(tmp_path):
    args = _sample_args(tmp_path, '[sample]\nsupercell = "3,3,3"\namplitude = "0.2:0.4"\n')
    assert args.supercell == (3, 3, 3) and args.amplitude == (0.2, 0.4)
    args = _sample_args(tmp_path, "[sample]\nsupercell = [3, 3, 2]\nseed = 4\n")
    assert tuple(args.supercell) == (3, 3, 2) and args.seed == 4
    with pytest.raises(ThermognnError, match=r"\[sample\] supercell: --supercell: expected"):
        _sample_args(tmp_path, '[sample]\nsupercell = "3,a"\n')


def test_command_line_wins_over_the_file(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text('[sample]\nsupercell = "3,3,3"\n')
    args = build_parser().parse_args([*SAMPLE, "--supercell", "4", "--config", str(config)])
    resolve_config(args, args.parser, "sample")
    assert args.supercell == (4, 4, 4)
