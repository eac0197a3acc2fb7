"""Edge-importance densities (paper Fig. 5e,f) and an interactive 3D view of a cell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from thermognn.explain.importance import PAPER_THRESHOLD, BondImportance
from thermognn.plotting import pyplot, save_figure


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    if values.size < 2 or np.allclose(values, values[0]):
        hist, edges = np.histogram(values, bins=len(grid) - 1, range=(0, 1), density=True)
        return np.interp(grid, 0.5 * (edges[1:] + edges[:-1]), hist)
    return gaussian_kde(values, bw_method=0.15)(grid)


def plot_importance_densities(
    models: Mapping[str, Sequence[BondImportance]],
    path: str | Path,
    threshold: float = PAPER_THRESHOLD,
) -> Path:
    """One panel per model: density of importances, all bonds and per species pair."""
    plt = pyplot()
    grid = np.linspace(0, 1, 201)
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    for ax, (name, bonds) in zip(axes[0], models.items()):
        imp = np.concatenate([b.importance for b in bonds])
        pair = np.concatenate([b.pair for b in bonds])
        ax.fill_between(grid, _density(imp, grid), color="0.8", label=f"all ({imp.size})")
        for p in sorted(set(pair.tolist())):
            sel = imp[pair == p]
            frac = (sel > threshold).mean()
            ax.plot(grid, _density(sel, grid), label=f"{p} ({100 * frac:.0f}% > {threshold})")
        ax.axvline(threshold, color="k", ls="--", lw=0.8)
        ax.set_yscale("log")  # most bonds pile up near 0; the important tail is what matters
        ax.set_ylim(1e-2, 1e3)
        ax.set_xlabel("bond importance (atom pair)")
        ax.set_ylabel("density (log scale)")
        ax.set_title(name)
        ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=130)


_COLOURS = {"Ag": "#b0b0c8", "S": "#e6c619", "Br": "#a62929", "I": "#940094"}


def bonds_view_html(
    atoms: Atoms,
    bonds: BondImportance,
    path: str | Path,
    *,
    threshold: float = PAPER_THRESHOLD,
    title: str = "",
) -> Path:
    """Self-contained plotly HTML: cell atoms, periodic images, important bonds in red.

    Every bond whose importance exceeds ``threshold`` is drawn from its atom in the cell
    to the (possibly periodic-image) neighbour, which is drawn as a smaller sphere;
    other bonds appear as faint grey lines.
    """
    import plotly.graph_objects as go

    cell = np.asarray(atoms.cell)
    pos = atoms.positions
    sym = np.asarray(atoms.get_chemical_symbols())
    traces = []
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ cell
    for a in range(8):
        for b in range(a + 1, 8):
            d = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
            if np.abs(d[a] - d[b]).sum() == 1:
                traces.append(
                    go.Scatter3d(
                        x=corners[[a, b], 0],
                        y=corners[[a, b], 1],
                        z=corners[[a, b], 2],
                        mode="lines",
                        line={"color": "black", "width": 2},
                        showlegend=False,
                        hoverinfo="skip",
                    )
                )
    for important in (False, True):
        sel = (bonds.importance > threshold) == important
        xs, ys, zs, images = [], [], [], []
        for s, t, sh in zip(bonds.source[sel], bonds.target[sel], bonds.shift[sel]):
            a, b = pos[s], pos[t] + sh @ cell
            xs += [a[0], b[0], None]
            ys += [a[1], b[1], None]
            zs += [a[2], b[2], None]
            if important and np.any(sh != 0):
                images.append((t, b))
        traces.append(
            go.Scatter3d(
                x=xs,
                y=ys,
                z=zs,
                mode="lines",
                line={
                    "color": "red" if important else "rgba(120,120,120,0.15)",
                    "width": 5 if important else 1,
                    "dash": "dash" if important else "solid",
                },
                name=f"importance > {threshold}" if important else "other bonds",
            )
        )
        for t, b in images:
            traces.append(
                go.Scatter3d(
                    x=[b[0]],
                    y=[b[1]],
                    z=[b[2]],
                    mode="markers",
                    marker={"size": 5, "color": _COLOURS.get(sym[t], "grey"), "opacity": 0.6},
                    showlegend=False,
                    hovertext=f"{sym[t]}{t} (image)",
                )
            )
    for s in sorted(set(sym.tolist())):
        m = sym == s
        traces.append(
            go.Scatter3d(
                x=pos[m, 0],
                y=pos[m, 1],
                z=pos[m, 2],
                mode="markers",
                marker={
                    "size": 10,
                    "color": _COLOURS.get(s, "grey"),
                    "line": {"width": 1, "color": "black"},
                },
                name=s,
                hovertext=[f"{s}{i}" for i in np.flatnonzero(m)],
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        title=title or "important bonds",
        scene={"aspectmode": "data"},
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    path = Path(path)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
