"""The torch device a run trains or predicts on, from its name."""

from __future__ import annotations

import torch

from thermognn.errors import ThermognnError

__all__ = ["resolve_device"]


def resolve_device(device: str) -> torch.device:
    """A torch device from its name, checked to be usable here.

    Parameters
    ----------
    device
        Any torch device string (``cpu``, ``cuda``, ``cuda:1``, ``mps`` …) or ``auto``
        (CUDA when present, else MPS when present, else CPU).

    Raises
    ------
    ThermognnError
        The name is not a device, or the device is not available on this machine.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ThermognnError(
            f"--device: {device!r} is not a torch device (cpu, cuda, cuda:N, mps, auto): {exc}"
        ) from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (resolved.index or 0) >= count:
            found = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise ThermognnError(f"--device {device}: this machine has {found} (use cpu or auto)")
        return resolved
    backend = getattr(torch.backends, resolved.type, None) or getattr(torch, resolved.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ThermognnError(f"--device {device}: not available on this machine (use cpu or auto)")
    return resolved
