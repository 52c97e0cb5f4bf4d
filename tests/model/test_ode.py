import math

import pytest
import torch
from torch import nn

from nodis.config import preset
from nodis.errors import ConfigError
from nodis.model.ode import LSTMODEFunc, ODEBlock


class Linear(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.nfe = 0

    def reset(self):
        self.nfe = 0

    def forward(self, t, x):
        self.nfe += 1
        return x @ self.a.T


def test_linear_system_matches_closed_form():
    # dx/dt = A x with A a rotation+decay generator: x(t) = expm(A t) x0
    a = torch.tensor([[-0.1, -1.0], [1.0, -0.1]], dtype=torch.float64)
    x0 = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    times = torch.tensor([0.0, 0.5, 1.5, 2.5], dtype=torch.float64)
    block = ODEBlock(Linear(a), "dopri5", rtol=1e-9, atol=1e-9)
    states, nfe = block(x0, times)
    for i, t in enumerate(times):
        exact = x0 @ torch.linalg.matrix_exp(a * t).T
        assert torch.allclose(states[i], exact, atol=1e-7), (t, states[i], exact)
    assert nfe >= 8 and (nfe - 2) % 6 == 0  # dopri5: 2 + 6 per step (FSAL)


def test_rk4_fixed_step_on_exponential():
    a = torch.tensor([[-1.0]], dtype=torch.float64)
    block = ODEBlock(Linear(a), "rk4", step_size=0.01)
    states, nfe = block(torch.ones(1, 1, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert abs(states[1].item() - math.exp(-1)) < 1e-8
    assert nfe == 400


def test_carry_and_reset_differ_and_reset_is_a_pure_function():
    torch.manual_seed(0)
    x = torch.randn(5, 1, 32)
    times = torch.tensor([0.0, 1.5])
    carry = LSTMODEFunc(32, 16, "carry")
    reset = LSTMODEFunc(32, 16, "reset")
    reset.load_state_dict(carry.state_dict())
    yc, _ = ODEBlock(carry)(x, times)
    yr, _ = ODEBlock(reset)(x, times)
    assert not torch.allclose(yc[1], yr[1])
    # reset: f(x) twice gives the same value; carry: the second call continues the LSTM state
    with torch.no_grad():
        assert torch.equal(reset(0, x), reset(0, x))
        carry.reset()
        assert not torch.equal(carry(0, x), carry(0, x))
    # both start from the same initial state
    assert torch.equal(yc[0], x) and torch.equal(yr[0], x)


def test_grid_solve_equals_two_point_solve_for_both_policies():
    torch.manual_seed(1)
    x = torch.randn(7, 1, 32)
    grid = torch.tensor([round(0.05 * i, 10) for i in range(51)], dtype=torch.float32)
    assert 1.5 in grid.tolist()
    for policy in ("carry", "reset"):
        block = ODEBlock(LSTMODEFunc(32, 16, policy))
        full, nfe_full = block(x, grid)
        two, nfe_two = block(x, torch.tensor([0.0, 1.5]))
        i = grid.tolist().index(1.5)
        assert torch.equal(full[i], two[1]), policy
        assert nfe_full >= nfe_two


def test_nfe_grows_with_t_end():
    torch.manual_seed(2)
    x = torch.randn(6, 1, 32)
    block = ODEBlock(LSTMODEFunc(32, 16, "reset"))
    nfes = [block(x, torch.tensor([0.0, t]))[1] for t in (0.05, 1.5, 3.0)]
    assert nfes[0] <= nfes[1] <= nfes[2]


def test_invalid_options_are_clear_errors():
    with pytest.raises(ConfigError, match="solver"):
        preset("demo", solver="nope")
    with pytest.raises(ConfigError, match="state policy"):
        preset("demo", state_policy="keep")
    with pytest.raises(ConfigError, match="increasing"):
        ODEBlock(LSTMODEFunc(8, 4))(torch.zeros(2, 1, 8), torch.tensor([0.0, 1.0, 0.5]))


def test_nfe_until_t_end_equals_the_nfe_of_a_solve_that_stops_there():
    """The release reports the NFE of its solve over [0, t_end]; a longer grid's solve takes the same
    steps up to t_end, and nfe_until recovers that count from the evaluation times."""
    from nodis.model.ode import LSTMODEFunc, ODEBlock, nfe_until

    torch.manual_seed(0)
    block = ODEBlock(LSTMODEFunc(16, 8))
    with torch.no_grad():
        for p in block.parameters():
            p.mul_(3)  # livelier dynamics: more steps
        x = torch.randn(5, 1, 16)
        grid = torch.tensor([round(0.05 * i, 10) for i in range(51)])
        _, nfe_grid = block(x, grid)
        evals = list(block.last_eval_times)
        assert len(evals) == nfe_grid
        counts = []
        for t_end in (0.5, 1.0, 1.5, 2.0, 2.5):
            _, nfe_two = block(x, torch.tensor([0.0, t_end]))
            assert nfe_until(evals, t_end) == nfe_two
            counts.append(nfe_two)
        assert counts[0] < counts[-1] == nfe_grid  # the longer solve costs more
        assert nfe_until(evals, 1.5, solver="rk4") is None
        assert nfe_until(evals, 2.5, solver="rk4", t_last=2.5) == nfe_grid
