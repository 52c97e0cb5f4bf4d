"""The ODE block: ``dx/dt = f(x)`` with ``f`` a bidirectional LSTM over a sequence, solved with
torchdiffeq.

The state ``x`` is a time-major sequence ``(T, B, D)`` (objects or object pairs of ``B`` images).
Two state policies for the LSTM inside ``f``:

* ``carry`` (the original release): the LSTM ``(h, c)`` returned by one evaluation is the initial
  state of the next, across every function evaluation of one solve (initial-step probe and rejected
  steps included); it is reset at the start of every solve.
* ``reset``: every evaluation starts from zero state, so ``f`` is a true function of ``x``.

Module names (``odeFunc.lstm``) follow the official checkpoints.
"""
from __future__ import annotations

import torch
from torch import nn
from torchdiffeq import odeint

from ..errors import ConfigError

FIXED_STEP = ("euler", "midpoint", "rk4")


class LSTMODEFunc(nn.Module):
    """``f(t, x) = BiLSTM(x)``; ``t`` is ignored as in the paper. Counts evaluations in ``nfe``."""

    def __init__(self, dim: int, hidden: int, policy: str = "carry") -> None:
        super().__init__()
        if 2 * hidden != dim:
            raise ConfigError(f"ODE state width {dim} must be twice the LSTM hidden size {hidden}")
        self.lstm = nn.LSTM(dim, hidden, num_layers=1, bidirectional=True)
        self.policy = policy
        self.nfe = 0
        self.hidden_state: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self) -> None:
        self.nfe = 0
        self.hidden_state = None  # None == zeros of shape (2, B, hidden)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        if self.policy == "carry":
            out, self.hidden_state = self.lstm(x, self.hidden_state)
        else:
            out, _ = self.lstm(x)
        return out


class ODEBlock(nn.Module):
    """Solve the ODE from ``times[0]`` over the increasing output grid ``times``.

    ``forward(x (T,B,D), times (G,)) -> (states (G,T,B,D), nfe)``. Intermediate output times do not
    change the steps the adaptive solver takes (torchdiffeq interpolates them), so the state at any
    grid time equals the state of a solve that stops there.
    """

    def __init__(self, func: nn.Module, solver: str = "dopri5", rtol: float = 0.01, atol: float = 0.01,
                 step_size: float = 0.1) -> None:
        super().__init__()
        self.odeFunc = func
        self.solver = solver
        self.rtol = rtol
        self.atol = atol
        self.step_size = step_size

    def forward(self, x: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, int]:
        if times.ndim != 1 or times.numel() < 2:
            raise ConfigError("ODE output times must be a 1-D grid with at least two values")
        if not bool((times[1:] > times[:-1]).all()):
            raise ConfigError("ODE output times must be strictly increasing")
        self._reset()
        if x.shape[0] == 0:
            return x.new_zeros((times.numel(), *x.shape)), 0
        options = {"step_size": self.step_size} if self.solver in FIXED_STEP else None
        states = odeint(self.odeFunc, x, times.to(device=x.device, dtype=x.dtype), rtol=self.rtol,
                        atol=self.atol, method=self.solver, options=options)
        nfe = int(getattr(self.odeFunc, "nfe", 0))
        self._reset()  # drop the carried LSTM state (it holds the autograd graph)
        return states, nfe

    def _reset(self) -> None:
        reset = getattr(self.odeFunc, "reset", None)
        if reset is not None:
            reset()


def build_ode_block(dim: int, hidden: int, cfg) -> ODEBlock:
    """An :class:`ODEBlock` configured from a :class:`nodis.config.ModelConfig`."""
    return ODEBlock(LSTMODEFunc(dim, hidden, cfg.state_policy), cfg.solver, cfg.rtol, cfg.atol, cfg.step_size)
