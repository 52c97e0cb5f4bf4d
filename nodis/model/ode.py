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

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn
from torchdiffeq import odeint

from ..errors import ConfigError

FIXED_STEP = ("euler", "midpoint", "rk4")

# Inference on a multi-core CPU: the two directions of the BiLSTM are independent, so they run at the
# same time on two threads (one intra-op thread each) instead of one after the other with every
# time step's small matrix-vector product split across the cores. Same kernels, same arithmetic per
# direction; docs/benchmarks.md has the measurements. Off for autograd, on GPUs, when torch has a
# single thread, and for calls too small to repay the hand-over to the second thread: under
# ``SPLIT_MIN_WORK`` multiply-adds per direction (rows x 4 hidden x (input + hidden)).
SPLIT_DIRECTIONS = True
SPLIT_MIN_WORK = 500_000
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


_interrupt = threading.local()


class SolveInterrupted(Exception):
    """A solve stopped by the check of :func:`interruptible` (nothing of it is kept)."""


@contextlib.contextmanager
def interruptible(check):
    """Solves started by this thread inside the block stop with :class:`SolveInterrupted` at the first
    function evaluation where ``check()`` is true (e.g. a background solve the user no longer waits
    for). The check runs once per evaluation, so it must be cheap."""
    prev = getattr(_interrupt, "check", None)
    _interrupt.check = check
    try:
        yield
    finally:
        _interrupt.check = prev


def _direction_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nodis-lstm")
        return _pool


def split_directions_active(lstm: nn.LSTM, x: torch.Tensor) -> bool:
    work = x.shape[0] * x.shape[1] * 4 * lstm.hidden_size * (lstm.input_size + lstm.hidden_size)
    return (SPLIT_DIRECTIONS and lstm.bidirectional and lstm.num_layers == 1 and x.device.type == "cpu"
            and not torch.is_grad_enabled() and torch.get_num_threads() >= 2 and work >= SPLIT_MIN_WORK)


@contextlib.contextmanager
def single_intraop_thread(active: bool):
    """One intra-op thread per caller while ``active`` (the two directions take one core each)."""
    if not active:
        yield
        return
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def _lstm_direction(lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, reverse: bool,
                    inference: bool = True):
    sfx = "_reverse" if reverse else ""
    w = [getattr(lstm, f"{n}_l0{sfx}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    # grad mode is per thread: the worker thread follows the caller's (no autograd either way)
    with torch.inference_mode() if inference else torch.no_grad():
        if reverse:
            x = x.flip(0)
        out, hn, cn = torch.lstm(x, (h, c), w, True, 1, 0.0, False, False, False)
        return (out.flip(0) if reverse else out), hn, cn


def bilstm_split(lstm: nn.LSTM, x: torch.Tensor, hx=None):
    """``lstm(x, hx)`` of a one-layer bidirectional LSTM with the two directions on two threads."""
    T, B, _ = x.shape
    if hx is None:
        z = x.new_zeros((2, B, lstm.hidden_size))
        hx = (z, z)
    h, c = hx
    inference = torch.is_inference_mode_enabled()
    fut = _direction_pool().submit(_lstm_direction, lstm, x, h[1:], c[1:], True, inference)
    try:
        of, hf, cf = _lstm_direction(lstm, x, h[:1], c[:1], False, inference)
    finally:
        ob, hb, cb = fut.result()
    return torch.cat((of, ob), 2), (torch.cat((hf, hb)), torch.cat((cf, cb)))


class LSTMODEFunc(nn.Module):
    """``f(t, x) = BiLSTM(x)``; ``t`` is ignored as in the paper. Counts evaluations in ``nfe``."""

    def __init__(self, dim: int, hidden: int, policy: str = "carry") -> None:
        super().__init__()
        if 2 * hidden != dim:
            raise ConfigError(f"ODE state width {dim} must be twice the LSTM hidden size {hidden}")
        self.lstm = nn.LSTM(dim, hidden, num_layers=1, bidirectional=True)
        self.policy = policy
        self.split = True  # run the two directions concurrently at CPU inference (see SPLIT_DIRECTIONS)
        self._split_now = False  # decided per solve by ODEBlock
        self.nfe = 0
        self.hidden_state: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self) -> None:
        self.nfe = 0
        self.hidden_state = None  # None == zeros of shape (2, B, hidden)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        hx = self.hidden_state if self.policy == "carry" else None
        if self._split_now:
            out, hn = bilstm_split(self.lstm, x, hx)
        else:
            out, hn = self.lstm(x, hx)
        if self.policy == "carry":
            self.hidden_state = hn
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
        self.max_num_steps: int | None = None  # a cap on adaptive steps, set only while training

    def forward(self, x: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, int]:
        if times.ndim != 1 or times.numel() < 2:
            raise ConfigError("ODE output times must be a 1-D grid with at least two values")
        if not bool((times[1:] > times[:-1]).all()):
            raise ConfigError("ODE output times must be strictly increasing")
        self._reset()
        self.last_eval_times: list[float] = []
        if x.shape[0] == 0:
            return x.new_zeros((times.numel(), *x.shape)), 0
        options = {"step_size": self.step_size} if self.solver in FIXED_STEP else None
        cap = self.max_num_steps
        if cap and self.solver not in FIXED_STEP:  # training guard (nodis.train): refuse a runaway solve
            options = {"max_num_steps": int(cap)}
        lstm = getattr(self.odeFunc, "lstm", None)
        split = isinstance(lstm, nn.LSTM) and getattr(self.odeFunc, "split", False) and split_directions_active(lstm, x)
        if split:
            self.odeFunc._split_now = True
        try:
            evals: list[torch.Tensor] = []
            check = getattr(_interrupt, "check", None)

            def func(t, y):  # records the time of every evaluation (see nfe_until)
                if check is not None and check():
                    raise SolveInterrupted("the solve was interrupted")
                evals.append(t.detach())
                return self.odeFunc(t, y)

            with single_intraop_thread(split):
                try:
                    states = odeint(func, x, times.to(device=x.device, dtype=x.dtype), rtol=self.rtol,
                                    atol=self.atol, method=self.solver, options=options)
                except AssertionError as e:
                    if cap and "max_num_steps" in str(e):
                        raise SolverStepLimit(f"the adaptive ODE solver needed more than {cap} steps") from None
                    raise
            self.last_eval_times = [float(v) for v in torch.stack(evals).double().cpu()] if evals else []
        finally:
            if split:
                self.odeFunc._split_now = False
        nfe = int(getattr(self.odeFunc, "nfe", 0))
        self._reset()  # drop the carried LSTM state (it holds the autograd graph)
        return states, nfe

    def _reset(self) -> None:
        reset = getattr(self.odeFunc, "reset", None)
        if reset is not None:
            reset()


class SolverStepLimit(RuntimeError):
    """An adaptive solve went past ``max_num_steps`` (set only while training, see nodis.train)."""


def nfe_until(eval_times, t_stop: float, solver: str = "dopri5", t_last: float | None = None) -> int | None:
    """The NFE of a solve that stops at ``t_stop``, from the evaluation times of one solve that went
    on to a later time (an adaptive solver takes the same steps up to ``t_stop`` either way).

    The release reports the NFE of its solve over ``[0, t_end]``; a trajectory solves over a longer
    grid. dopri5 (torchdiffeq) evaluates ``f`` twice to start and six times per step, accepted or
    rejected, the first at ``t0 + dt/5`` and the last two at ``t1 = t0 + dt``; a solve to ``t_stop``
    makes every step that starts before ``t_stop``. ``t_last``: the solve's last output time (when it
    is ``t_stop``, every evaluation counts, for any solver). None when it cannot be told (other
    solvers)."""
    n = len(eval_times)
    if t_last is not None and abs(float(t_last) - float(t_stop)) < 1e-9:
        return n
    if solver != "dopri5":
        return None
    if n <= 2:
        return n
    tol = 1e-6 * max(1.0, abs(float(t_stop)))  # the recorded times are float32
    count = 2
    for k in range(2, n - 5, 6):
        e0, t1 = eval_times[k], eval_times[k + 4]
        t0 = t1 - (t1 - e0) / 0.8
        if t0 >= float(t_stop) - tol:
            break
        count += 6
    return count


def build_ode_block(dim: int, hidden: int, cfg) -> ODEBlock:
    """An :class:`ODEBlock` configured from a :class:`nodis.config.ModelConfig`."""
    return ODEBlock(LSTMODEFunc(dim, hidden, cfg.state_policy), cfg.solver, cfg.rtol, cfg.atol, cfg.step_size)
