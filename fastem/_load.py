"""fastem.load: a model file back as its estimator, through the estimator's public face."""

from __future__ import annotations

from pathlib import Path

from ._covariance import covariance
from ._persist import ARRAYS, INIT_ARRAYS, ModelFileError, read_model
from .mixture import GaussianMixture, check_params

FITTED = {"weights": "weights_", "means": "means_", "covariances": "covariances_",
          "precisions_cholesky": "precisions_cholesky_"}


def load(path):
    """Read a model written by ``save``. Never unpickles: loading cannot run code.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` model file.

    Returns
    -------
    GaussianMixture
        The fitted estimator.

    Raises
    ------
    ModelFileError
        The file is not a fastem model, is damaged, or comes from a newer fastem.
    """
    path = Path(path)
    header, contents = read_model(path)
    try:
        params = dict(header["params"])
        params.update({name: contents[name] for name in INIT_ARRAYS if name in contents})
        model = GaussianMixture(**params)
        check_params(model)
        attributes = header["attributes"]
        model.converged_ = bool(attributes["converged_"])
        model.n_iter_ = int(attributes["n_iter_"])
        model.lower_bound_ = float(attributes["lower_bound_"])
        model.lower_bounds_ = [float(v) for v in attributes.get("lower_bounds_", [])]
        model.n_features_in_ = int(attributes["n_features_in_"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{path}: the model's parameters are not valid: {exc!r}") from None
    for name in ARRAYS:
        setattr(model, FITTED[name], contents[name])
    model.precisions_ = covariance(model.covariance_type).precisions(model.precisions_cholesky_)
    return model
