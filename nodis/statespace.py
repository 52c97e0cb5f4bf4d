"""2-D projections of ODE hidden states (the state-space view; pure numpy, no torch, no Qt).

A :class:`Projection` maps vectors ``(..., D)`` to plane coordinates ``(..., 2)`` as
``(x - origin) @ basis.T``, and may carry a decision boundary (the line ``a*u + b*v + c = 0``).

* :func:`pca` — the two leading principal components of a set of states (e.g. every object of one
  image at every grid time), centred on their mean.
* :func:`decoder_plane` — the plane spanned by the object decoder's weight vectors of two classes
  ``w_a``, ``w_b`` (orthonormal coordinates: ``u`` along ``w_a``, ``v`` along the part of ``w_b``
  orthogonal to it). The decoder is linear, so ``logit_a - logit_b = (w_a - w_b) . x + (b_a - b_b)``
  depends on ``x`` only through its projection onto this plane: the boundary between the two
  classes is exactly a line there (other classes may still win on either side of it).
* :func:`logit_plane` — for the predicate ODE, whose decoder is an MLP: the coordinates are two
  predicates' logits themselves (apply it to decoded logits), and the boundary is the diagonal.

Example::

    space = traj.state_space()
    proj = pca(space.object_states.reshape(-1, space.object_states.shape[-1]))
    paths = proj(space.object_states)          # (G, N, 2): one path per object over the grid
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = ["Projection", "pca", "decoder_plane", "logit_plane"]


@dataclass
class Projection:
    """A linear map to the plane: ``coords = (x - origin) @ basis.T``."""

    name: str
    basis: np.ndarray  # (2, D)
    origin: np.ndarray  # (D,)
    axis_labels: tuple[str, str]
    explained: tuple[float, float] | None = None  # PCA: fraction of the variance on each axis
    boundary: tuple[float, float, float] | None = None  # a, b, c of the line a*u + b*v + c = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if x.shape[-1] != self.basis.shape[1]:
            raise InputError(f"{self.name}: vectors of width {x.shape[-1]} given, the projection expects "
                             f"{self.basis.shape[1]}")
        return (x - self.origin) @ self.basis.T

    def boundary_segment(self, lo: tuple[float, float], hi: tuple[float, float]) -> np.ndarray | None:
        """The part of the boundary line inside the box ``lo`` .. ``hi`` as ``(2, 2)`` end points, or None."""
        if self.boundary is None:
            return None
        a, b, c = self.boundary
        pts = []
        for u in (lo[0], hi[0]):  # crossings of the vertical sides
            if abs(b) > 1e-12:
                v = -(a * u + c) / b
                if lo[1] - 1e-9 <= v <= hi[1] + 1e-9:
                    pts.append((u, v))
        for v in (lo[1], hi[1]):  # crossings of the horizontal sides
            if abs(a) > 1e-12:
                u = -(b * v + c) / a
                if lo[0] - 1e-9 <= u <= hi[0] + 1e-9:
                    pts.append((u, v))
        uniq: list[tuple[float, float]] = []
        for p in pts:
            if all(abs(p[0] - q[0]) > 1e-9 or abs(p[1] - q[1]) > 1e-9 for q in uniq):
                uniq.append(p)
        if len(uniq) < 2:
            return None
        return np.array(uniq[:2], np.float64)


def pca(x: np.ndarray) -> Projection:
    """The leading two principal axes of the rows of ``x (M, D)``, centred on their mean.

    Signs are fixed (the largest-magnitude entry of each axis is positive) so the same states give
    the same picture. With fewer than two distinct directions the missing axis is zero."""
    x = np.asarray(x, np.float64).reshape(-1, np.asarray(x).shape[-1])
    if x.shape[0] == 0:
        raise InputError("PCA needs at least one state")
    mean = x.mean(0)
    xc = x - mean
    _, sv, vt = np.linalg.svd(xc, full_matrices=False)
    basis = np.zeros((2, x.shape[1]))
    k = min(2, vt.shape[0])
    basis[:k] = vt[:k]
    for i in range(2):
        j = int(np.argmax(np.abs(basis[i])))
        if basis[i, j] < 0:
            basis[i] = -basis[i]
    var = sv ** 2
    total = float(var.sum())
    ex = tuple(float(var[i] / total) if total > 0 and i < len(var) else 0.0 for i in range(2))
    return Projection("PCA", basis, mean, (f"PC1 ({100 * ex[0]:.0f}%)", f"PC2 ({100 * ex[1]:.0f}%)"),
                      explained=(ex[0], ex[1]))


def decoder_plane(weight: np.ndarray, bias: np.ndarray, a: int, b: int,
                  names: list[str] | None = None) -> Projection:
    """The plane spanned by rows ``a`` and ``b`` of a linear decoder ``weight (C, D)``.

    ``u`` is the coordinate along ``w_a``, ``v`` along the part of ``w_b`` orthogonal to ``w_a``
    (origin 0, so the boundary ``logit_a = logit_b`` is the line in :attr:`Projection.boundary`)."""
    weight = np.asarray(weight, np.float64)
    bias = np.asarray(bias, np.float64)
    C = weight.shape[0]
    for c in (a, b):
        if not 0 <= int(c) < C:
            raise InputError(f"class {c} does not exist (the decoder has classes 0..{C - 1})")
    if a == b:
        raise InputError("choose two different classes for the decoder plane")
    wa, wb = weight[a], weight[b]
    na = np.linalg.norm(wa)
    if na == 0:
        raise InputError(f"the decoder weight of class {a} is zero")
    e1 = wa / na
    rest = wb - (wb @ e1) * e1
    nr = np.linalg.norm(rest)
    if nr < 1e-12:
        raise InputError(f"the decoder weights of classes {a} and {b} are parallel: they span no plane")
    e2 = rest / nr
    d = wa - wb
    nm = names or [str(i) for i in range(C)]
    return Projection(f"decoder plane {nm[a]} / {nm[b]}", np.stack([e1, e2]), np.zeros(weight.shape[1]),
                      (f"along w[{nm[a]}]", f"w[{nm[b]}] ⟂ w[{nm[a]}]"),
                      boundary=(float(d @ e1), float(d @ e2), float(bias[a] - bias[b])))


def logit_plane(num: int, a: int, b: int, names: list[str] | None = None) -> Projection:
    """Coordinates ``(logit_a, logit_b)`` of logit vectors of width ``num``; boundary: the diagonal."""
    for c in (a, b):
        if not 0 <= int(c) < num:
            raise InputError(f"index {c} does not exist (0..{num - 1})")
    if a == b:
        raise InputError("choose two different predicates for the logit plane")
    basis = np.zeros((2, num))
    basis[0, a] = basis[1, b] = 1.0
    nm = names or [str(i) for i in range(num)]
    return Projection(f"logits {nm[a]} / {nm[b]}", basis, np.zeros(num), (f"logit {nm[a]}", f"logit {nm[b]}"),
                      boundary=(1.0, -1.0, 0.0))
