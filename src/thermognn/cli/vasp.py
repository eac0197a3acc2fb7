"""``thermognn vasp export|import``: DFT labels through VASP run folders and a SLURM array.

Production DFT labels: 'export' writes one VASP single-point folder per unlabeled row
(POSCAR, INCAR, KPOINTS, POTCAR recipe) plus a SLURM job-array script; 'import' reads
the finished vasprun.xml files back into the study database.
"""

from __future__ import annotations

import argparse

from thermognn.cli import common


def _mesh(text: str) -> tuple[int, int, int]:
    """``"6"`` or ``"6,6,4"`` → a k-point mesh."""
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"--kpoints: expected N or N,N,N ≥ 1, got {text!r}")
    return (parts[0], parts[1], parts[2])


def _pairs(value: object) -> list[tuple[str, object]]:
    """KEY=VALUE pairs from the command line (list) or a TOML table (dict)."""
    return list(value.items()) if isinstance(value, dict) else list(value)  # type: ignore[call-overload]


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "vasp", __doc__)
    vsub = p.add_subparsers(dest="vasp_command", metavar="ACTION", required=True)

    e = vsub.add_parser("export", help="write one VASP folder per unlabeled row + submit.slurm")
    e.add_argument("--db", required=True)
    e.add_argument("--study", default=None, help="study name the database must carry")
    e.add_argument("--out", required=True, help="export folder")
    e.add_argument("--query", default=None, help="ASE selection, e.g. 'scheme=phonon'")
    e.add_argument("--retry-failed", action="store_true", help="also rows that failed before")
    e.add_argument("--encut", type=float, default=None, help="plane-wave cutoff (eV; default 700)")
    e.add_argument(
        "--kpoints",
        type=_mesh,
        default=None,
        help="Γ-centred mesh N,N,N (default ceil(12/n) per supercell repetition n)",
    )
    e.add_argument(
        "--incar",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra/overriding INCAR tag (repeatable); KEY= removes a default",
    )
    e.add_argument(
        "--potcar",
        type=_key_value,
        action="append",
        default=[],
        metavar="EL=NAME",
        help="POTCAR for a species, e.g. Ag=Ag_pv (repeatable)",
    )
    e.add_argument("--time", default=None, help="SLURM --time per task (default 04:00:00)")
    e.add_argument("--ntasks-per-node", default=None, help="SLURM MPI ranks (default 32)")
    e.add_argument("--vasp-command", default="srun vasp_std", help="how a task runs VASP")
    common.add_config_option(e, "vasp.export")
    e.set_defaults(func=run_export)

    i = vsub.add_parser(
        "import",
        help="label rows from the finished vasprun.xml files",
        description="Label rows from the finished vasprun.xml files. Exit status 0 when "
        "every run read was imported, 1 when some failed (their rows get label_error), 2 "
        "when the import was refused (nothing written).",
    )
    i.add_argument("--db", required=True)
    i.add_argument("--study", default=None, help="study name the database must carry")
    i.add_argument("--dir", required=True, help="export folder, or one row-<id> folder")
    i.add_argument("--labeler-name", default="vasp-pbesol", help="stored as the rows' labeler")
    i.add_argument("--overwrite", action="store_true", help="re-label rows labeled already")
    common.add_config_option(i, "vasp.import")
    i.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from thermognn.database import StudyDatabase
    from thermognn.labels.vasp import export_vasp

    common.resolve_config(args, args.parser, "vasp.export")
    incar: dict[str, object] = {k: (v if v != "" else None) for k, v in _pairs(args.incar)}
    if args.encut is not None:
        incar["ENCUT"] = f"{args.encut:g}"
    slurm = {
        k: v
        for k, v in (("time", args.time), ("ntasks-per-node", args.ntasks_per_node))
        if v is not None
    }
    db = StudyDatabase(args.db, study=args.study, create=False)
    folders = export_vasp(
        db,
        args.out,
        query=args.query,
        incar=incar,
        kpoints=tuple(args.kpoints) if args.kpoints else None,
        potcar_map={k: str(v) for k, v in _pairs(args.potcar)},
        retry_failed=args.retry_failed,
        slurm=slurm,
        vasp_command=args.vasp_command,
    )
    out = Path(args.out)
    if folders:
        print(f"{len(folders)} VASP folders in {out}; submit with: cd {out} && sbatch submit.slurm")
    else:
        print(f"no unlabeled rows to export ({out}/folders.txt is empty)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from thermognn.database import StudyDatabase
    from thermognn.labels.vasp import import_vasp

    common.resolve_config(args, args.parser, "vasp.import")
    db = StudyDatabase(args.db, study=args.study, create=False)
    summary = import_vasp(db, args.dir, labeler_name=args.labeler_name, overwrite=args.overwrite)
    print(summary)
    for row_id, message in list(summary.failed.items())[:10]:
        print(f"  row {row_id}: failed: {message}")
    for row_id, note in list(summary.incomplete.items())[:10]:
        print(f"  row {row_id}: {note}")
    for row_id, folder in list(summary.missing.items())[:10]:
        print(f"  row {row_id}: no vasprun.xml in {folder}")
    return 1 if summary.failed else 0  # some runs failed: their rows hold label_error
