"""The seed walkthrough (shared/seeds) reproduced by fastem's kernels."""

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seed_walkthrough.py"


@pytest.fixture(scope="module")
def walkthrough():
    return runpy.run_path(str(EXAMPLE))["walkthrough"]()


def test_posteriors(walkthrough):
    posteriors, _ = walkthrough
    np.testing.assert_allclose(posteriors[:, 0], [0.29421497, 0.62245933, 0.65135486, 0.10669059, 0.05340333], atol=5e-9)
    np.testing.assert_allclose(posteriors[:, 1], [0.70578503, 0.37754067, 0.34864514, 0.89330941, 0.94659667], atol=5e-9)


def test_m_step_both_components(walkthrough):
    _, new = walkthrough
    np.testing.assert_allclose(new.weights, [0.3456246183552747, 0.6543753816447255], rtol=1e-14)
    np.testing.assert_allclose(new.means[:, 0], [-0.5373289474340418, 0.6811290963725771], rtol=1e-13)
    assert new.covariances[0] == pytest.approx(0.5757859076870627, rel=1e-13)
    assert new.covariances[1] == pytest.approx(1.0752479631618015, rel=1e-13)


def test_the_seeds_second_variance_is_the_typo(walkthrough):
    """Centring on the first mean reproduces the seed's printed 2.5598879676788537."""
    posteriors, new = walkthrough
    x = np.array([0.2, -0.9, -1, 1.2, 1.8])
    typo = np.sum(posteriors[:, 1] * (x - new.means[0, 0]) ** 2) / np.sum(posteriors[:, 1])
    assert typo == pytest.approx(2.5598879676788537, rel=1e-12)
