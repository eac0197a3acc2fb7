"""VASP labels for production: export one run folder per unlabeled row, import vasprun.xml.

Export writes, for each row still to label, ``OUT/row-<id>/`` with

* ``POSCAR`` — the configuration, direct coordinates, atoms grouped by species in
  alphabetical order (the permutation is kept in ``row.json``);
* ``INCAR`` — a single point with stress (PBEsol, ``GGA = PS``, ENCUT 700 eV as the
  paper, ``ISMEAR = 0``, ``SIGMA = 0.01``, ``EDIFF = 1E-6``, ``IBRION = -1``,
  ``NSW = 0``, ``ISIF = 2``, ``LREAL = Auto``); any key can be overridden;
* ``KPOINTS`` — a Γ-centred mesh, by default the paper's 12×12×12 for the 5-atom cell
  scaled to the supercell: ``ceil(12 / n_rep)`` per direction (6×6×6 for 2×2×2);
* ``POTCAR.recipe`` — which POTCAR to use per species, in POSCAR order (POTCARs are
  licensed and cannot be shipped); the job script assembles ``POTCAR`` from
  ``$VASP_PP_PATH`` with it;
* ``row.json`` — row id, study name and the row's ``unique_id``;

and, at the top, ``folders.txt`` plus a SLURM job-array script ``submit.slurm`` (one
array task per folder; a task whose folder already holds a complete vasprun.xml exits
at once). Re-exporting keeps folders whose ``row.json`` carries the same unique id.

Import reads each folder's ``vasprun.xml`` with ASE and stores the four labels:

* ``energy_per_atom`` — ASE's potential energy of the run (VASP's energy(σ→0) of the
  last ionic step, the PV term removed) divided by the number of atoms, eV/atom;
* ``band_gap``, ``vbm`` — from the eigenvalues and occupations of every k-point and
  spin of the last step: levels with occupation ≥ ½ of the maximum are occupied;
  VBM = highest occupied, CBM = lowest unoccupied, gap = max(CBM − VBM, 0), eV;
* ``hydrostatic_stress`` — tr(σ)/3 in GPa with ASE's sign. VASP writes the stress in
  kB with the sign of a pressure (positive = compressed, the cell wants to expand);
  ASE's reader multiplies it by −0.1 GPa/kB (``ase.io.vasp.atoms_from_step``), so
  +10 kB on the diagonal of vasprun.xml is stored as −1 GPa.

A missing vasprun.xml leaves the row unlabeled and is reported; a truncated or
unparseable one, an unconverged electronic loop or a structure that is not the row's
becomes a ``label_error`` row naming the file. Folders exported from another
database (unique ids that do not match) are refused before anything is written.

The code: :mod:`~thermognn.labels.vasp_export` (folders, INCAR/KPOINTS/SLURM text),
:mod:`~thermognn.labels.vasprun` (one vasprun.xml → labels) and
:mod:`~thermognn.labels.vasp_import` (folders → database rows); this module
re-exports their public names.
"""

from __future__ import annotations

from thermognn.labels.vasp_export import (
    DEFAULT_INCAR,
    DEFAULT_SLURM,
    KPOINT_DENSITY,
    PAPER_KMESH,
    POTCAR_FAMILY,
    ROW_FILE,
    VASPRUN,
    export_vasp,
    incar_text,
    kpoint_mesh,
    kpoints_text,
    slurm_script,
)
from thermognn.labels.vasp_import import ImportSummary, import_vasp
from thermognn.labels.vasprun import kpoint_band_edges, read_vasprun

__all__ = [
    "DEFAULT_INCAR",
    "DEFAULT_SLURM",
    "KPOINT_DENSITY",
    "PAPER_KMESH",
    "POTCAR_FAMILY",
    "ROW_FILE",
    "VASPRUN",
    "ImportSummary",
    "export_vasp",
    "import_vasp",
    "incar_text",
    "kpoint_band_edges",
    "kpoint_mesh",
    "kpoints_text",
    "read_vasprun",
    "slurm_script",
]
