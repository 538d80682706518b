"""Probabilistic regression: GaussianHead/GaussianMLP and the Gaussian NLL, β-NLL and KL losses."""

from __future__ import annotations

import math

import pytest
import torch

from trainwise.models.gaussian import GaussianHead, GaussianMLP
from trainwise.training.losses.gaussian import (
    BetaNLL,
    GaussianKL,
    GaussianNLL,
    normal_kl,
    sampled_moments,
)

# The TimberID lab's reference values for the closed-form KL(real ‖ predicted).
LAB_CASES = [
    # (real mean, real variance), (predicted mean, predicted variance), KL
    ((1.0, 0.02), (0.98, 0.021), 0.0101094),
    ((1.01, 0.042), (0.99, 0.012), 0.6402851),
]
LAB_TOLERANCE = 1e-6

# Rows for the statistical tests, and how many standard errors of the batch mean they allow
# (measured from the rows themselves, so the tolerance fits each case's spread).
MANY_ROWS = 100_000
TOLERANCE_IN_STANDARD_ERRORS = 5


def _rows(pair: tuple[float, float], n: int = 1) -> torch.Tensor:
    """(n, 2) copies of one (mean, variance) pair, in float64 for the reference checks."""
    return torch.tensor([pair], dtype=torch.float64).repeat(n, 1)


def _statistical_tolerance(per_row: torch.Tensor) -> float:
    """``TOLERANCE_IN_STANDARD_ERRORS`` standard errors of the mean of ``per_row`` (N,)."""
    return TOLERANCE_IN_STANDARD_ERRORS * (per_row.std() / math.sqrt(per_row.numel())).item()


def _expected_sampled_kl(real, predicted, samples: int) -> float:
    """E[KL(real ‖ N(μ̂, σ̂²))] for the empirical moments of ``samples`` draws (ddof=1).

    μ̂ = μ + σZ/√S and σ̂² = σ²·χ²_k/k (k = S−1) are independent, with
    E[log(χ²_k/k)] = ψ(k/2) + log(2/k) and E[k/χ²_k] = k/(k−2).
    """
    (mean_r, var_r), (mean_p, var_p) = real, predicted
    k = samples - 1
    expected_log_ratio = torch.special.digamma(torch.tensor(k / 2.0)).item() + math.log(2.0 / k)
    expected_inverse_ratio = k / (k - 2)
    log_term = 0.5 * (math.log(var_p / var_r) + expected_log_ratio)
    squared = var_r + (mean_r - mean_p) ** 2 + var_p / samples
    return log_term + squared / (2 * var_p) * expected_inverse_ratio - 0.5


# --- KL -------------------------------------------------------------------------------------

@pytest.mark.parametrize("real, predicted, expected", LAB_CASES)
def test_closed_form_kl_matches_the_lab_reference_values(real, predicted, expected):
    loss = GaussianKL(samples=0)
    value = loss(_rows(predicted), _rows(real)).item()
    assert value == pytest.approx(expected, abs=LAB_TOLERANCE)


def test_closed_form_kl_averages_over_the_batch():
    predicted = torch.cat([_rows(p) for _, p, _ in LAB_CASES])
    real = torch.cat([_rows(r) for r, _, _ in LAB_CASES])
    expected = sum(kl for *_, kl in LAB_CASES) / len(LAB_CASES)
    assert GaussianKL(samples=0)(predicted, real).item() == pytest.approx(expected, abs=1e-6)


def test_closed_form_does_not_touch_the_rng():
    torch.manual_seed(0)
    GaussianKL(samples=0)(_rows((0.98, 0.021)), _rows((1.0, 0.02)))
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after)


@pytest.mark.parametrize("real, predicted, _", LAB_CASES)
def test_symmetric_kl_is_forward_plus_reverse(real, predicted, _):
    (mean_r, var_r), (mean_p, var_p) = _rows(real)[0], _rows(predicted)[0]
    forward = normal_kl(mean_r[None], var_r[None], mean_p[None], var_p[None])
    reverse = normal_kl(mean_p[None], var_p[None], mean_r[None], var_r[None])
    value = GaussianKL(samples=0, symmetric=True)(_rows(predicted), _rows(real))
    assert value.item() == pytest.approx((forward + reverse).item(), abs=1e-12)
    assert reverse.item() != pytest.approx(forward.item())  # KL is not symmetric


def test_sampled_kl_is_reproducible_under_a_fixed_seed():
    predicted, real = _rows((0.98, 0.021), 8), _rows((1.0, 0.02), 8)
    loss = GaussianKL()  # samples=15 by default
    torch.manual_seed(123)
    first = loss.per_row(predicted, real)
    torch.manual_seed(123)
    second = loss.per_row(predicted, real)
    assert torch.equal(first, second)
    assert not torch.equal(first, loss.per_row(predicted, real))  # fresh draws differ


@pytest.mark.parametrize("real, predicted, _", LAB_CASES)
def test_sampled_kl_averages_to_its_known_expectation(real, predicted, _):
    # With 15 draws the estimator is biased upward (convexity); over many rows its mean
    # matches the exact expectation of the ddof=1 estimator, not the closed form.
    torch.manual_seed(0)
    per_row = GaussianKL(samples=15).per_row(_rows(predicted, MANY_ROWS), _rows(real, MANY_ROWS))
    assert per_row.mean().item() == pytest.approx(_expected_sampled_kl(real, predicted, 15),
                                                  abs=_statistical_tolerance(per_row))


@pytest.mark.parametrize("real, predicted, expected", LAB_CASES)
def test_sampled_kl_approaches_the_closed_form_with_many_draws(real, predicted, expected):
    torch.manual_seed(0)
    samples, rows = 20_000, 200
    per_row = GaussianKL(samples=samples).per_row(_rows(predicted, rows), _rows(real, rows))
    # What is left of the bias (it shrinks like 1/samples) plus the sampling noise.
    bias = _expected_sampled_kl(real, predicted, samples) - expected
    assert 0 < bias < 1e-3
    assert per_row.mean().item() == pytest.approx(expected,
                                                  abs=bias + _statistical_tolerance(per_row))


def test_sampled_kl_has_gradients_for_mean_and_variance():
    predicted = _rows((0.98, 0.021), 4).requires_grad_()
    torch.manual_seed(0)
    GaussianKL()(predicted, _rows((1.0, 0.02), 4)).backward()
    assert (predicted.grad != 0).all()


def test_sampled_moments_stay_positive_for_a_large_mean_and_tiny_variance():
    _, variance = sampled_moments(torch.full((64,), 1e6), torch.full((64,), 1e-6), 15)
    assert (variance > 0).all()


def test_negative_target_variance_is_rejected_naming_the_row():
    real = torch.tensor([[1.0, 0.02], [1.0, 0.02], [1.0, 0.03], [1.0, -0.01]])
    predicted = torch.tensor([[1.0, 0.02]] * 4)
    with pytest.raises(ValueError, match=r"target variance must be positive; row 3 has -0.01"):
        GaussianKL(samples=0)(predicted, real)


@pytest.mark.parametrize("bad", [0.0, float("nan")])
def test_zero_or_nan_target_variance_is_rejected(bad):
    real = torch.tensor([[1.0, bad]])
    with pytest.raises(ValueError, match="row 0"):
        GaussianKL()(torch.tensor([[1.0, 0.02]]), real)


@pytest.mark.parametrize("samples", [-1, 1])
def test_kl_rejects_sample_counts_without_an_empirical_variance(samples):
    with pytest.raises(ValueError, match="samples"):
        GaussianKL(samples=samples)


def test_kl_rejects_a_per_measurement_target():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        GaussianKL()(torch.tensor([[1.0, 0.02]]), torch.tensor([1.0]))


def test_kl_row_weights_follow_the_rowloss_contract():
    predicted = torch.cat([_rows(p) for _, p, _ in LAB_CASES])
    real = torch.cat([_rows(r) for r, _, _ in LAB_CASES])
    loss = GaussianKL(samples=0)
    weight = torch.tensor([3.0, 1.0], dtype=torch.float64)
    expected = (3 * LAB_CASES[0][2] + LAB_CASES[1][2]) / 4
    assert loss(predicted, real, weight).item() == pytest.approx(expected, abs=1e-6)
    # A zero weight drops the row entirely.
    assert loss(predicted, real, torch.tensor([0.0, 1.0], dtype=torch.float64)).item() \
        == pytest.approx(LAB_CASES[1][2], abs=1e-6)


# --- NLL and β-NLL --------------------------------------------------------------------------

def test_nll_equals_the_hand_computed_value():
    prediction = torch.tensor([[1.0, 4.0], [0.0, 0.5]])
    target = torch.tensor([3.0, 0.0])
    # Row 0: 0.5 * (log(2π·4) + (3 − 1)² / 4); row 1: 0.5 * log(2π·0.5).
    rows = [0.5 * (math.log(2 * math.pi * 4.0) + 4.0 / 4.0), 0.5 * math.log(math.pi)]
    loss = GaussianNLL()
    assert loss.per_row(prediction, target).tolist() == pytest.approx(rows, rel=1e-6)
    assert loss(prediction, target).item() == pytest.approx(sum(rows) / 2, rel=1e-6)


def test_beta_zero_is_the_nll():
    torch.manual_seed(0)
    prediction = torch.stack([torch.randn(10), torch.rand(10) + 0.1], dim=1)
    target = torch.randn(10)
    assert torch.equal(BetaNLL(0.0)(prediction, target), GaussianNLL()(prediction, target))


def test_beta_nll_scales_rows_by_the_detached_variance():
    prediction = torch.tensor([[0.0, 4.0]], requires_grad=True)
    target = torch.tensor([1.0])
    nll = GaussianNLL().per_row(prediction, target)
    beta = BetaNLL()  # β = 0.5: factor sqrt(4) = 2
    assert beta.per_row(prediction, target).item() == pytest.approx(2 * nll.item())
    # The factor is a constant for autograd: the gradient is 2x the NLL's, no extra term.
    nll_grad, = torch.autograd.grad(nll.sum(), prediction)
    beta_grad, = torch.autograd.grad(beta.per_row(prediction, target).sum(), prediction)
    assert torch.allclose(beta_grad, 2 * nll_grad)


def test_nll_row_weights_follow_the_rowloss_contract():
    torch.manual_seed(0)
    prediction = torch.stack([torch.randn(6), torch.rand(6) + 0.1], dim=1)
    target = torch.randn(6)
    weight = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    for loss in (GaussianNLL(), BetaNLL()):
        assert loss(prediction, target, weight).item() == pytest.approx(
            loss(prediction[:3], target[:3]).item(), rel=1e-6)


def test_nll_rejects_a_column_target_that_would_broadcast():
    with pytest.raises(ValueError, match="target must be"):
        GaussianNLL()(torch.tensor([[0.0, 1.0], [0.0, 1.0]]), torch.zeros(2, 1))


# --- Models ---------------------------------------------------------------------------------

def test_head_variance_never_falls_below_the_floor():
    head = GaussianHead(3, min_variance=1e-4)
    raw = torch.tensor([[0.0, -1e4], [5.0, -100.0], [1.0, 0.0], [2.0, 50.0]])
    out = head.to_mean_variance(raw)
    assert out.shape == (4, 2)
    assert torch.equal(out[:, 0], raw[:, 0])
    assert (out[:, 1] >= torch.tensor(1e-4)).all()
    assert out[0, 1].item() == pytest.approx(1e-4)  # softplus underflows: exactly the floor


def test_head_rejects_a_non_positive_floor():
    with pytest.raises(ValueError, match="min_variance"):
        GaussianHead(3, min_variance=0.0)


def test_lab_network_outputs_mean_and_positive_variance():
    torch.manual_seed(0)
    model = GaussianMLP(16, hidden=[20, 20])
    out = model(torch.randn(32, 16))
    assert out.shape == (32, 2)
    assert (out[:, 1] >= 1e-6).all()
    # Hidden blocks keep their activation; the head sees the last one's 20 relu units.
    assert model.head.linear.in_features == 20
    assert isinstance(model.body.layers[-1], torch.nn.Identity)


@pytest.mark.parametrize("options", [{"batch_norm": True, "dropout": 0.1, "input_noise": 0.05},
                                     {"hidden": []}])
def test_gaussian_mlp_options(options):
    model = GaussianMLP(5, **options)
    model.train()
    assert model(torch.randn(8, 5)).shape == (8, 2)


def test_gaussian_mlp_uses_xavier_normal_by_default():
    torch.manual_seed(0)
    model = GaussianMLP(16, hidden=[400, 600])
    wide = model.body.layers[2]  # Linear(400, 600): 240,000 weights
    expected_std = math.sqrt(2.0 / (wide.in_features + wide.out_features))
    assert wide.weight.std().item() == pytest.approx(expected_std, rel=0.02)
    assert wide.weight.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert (wide.bias == 0).all() and (model.head.linear.bias == 0).all()
    # PyTorch's default (kaiming-uniform, a=√5) would give std 1/sqrt(3·fan_in) instead.
    default = GaussianMLP(16, hidden=[400, 600], init="default").body.layers[2]
    assert default.weight.std().item() == pytest.approx(1 / math.sqrt(3 * 400), rel=0.02)


def test_gaussian_mlp_trains_with_the_nll():
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = x[:, 0] + 0.3 * torch.randn(256)
    model = GaussianMLP(4, hidden=[16])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = GaussianNLL()
    first = loss(model(x), y).item()
    for _ in range(200):
        optimiser.zero_grad()
        value = loss(model(x), y)
        value.backward()
        optimiser.step()
    assert value.item() < first
