"""scikit-learn's estimator checks that apply to transformers whose input is component names.

The generic `parametrize_with_checks` suite feeds numeric multi-column arrays, which these
string-input transformers do not accept; the checks below do not depend on numeric X.
"""

from __future__ import annotations

import pytest
from sklearn.utils import estimator_checks, get_tags

from featurizers.anion import AnionFeaturizer
from featurizers.coating import CoatingFeaturizer
from featurizers.solvent import SolventFeaturizer

FEATURIZERS = [AnionFeaturizer, SolventFeaturizer, CoatingFeaturizer]
API_CHECKS = [
    "check_estimator_cloneable", "check_estimator_repr", "check_estimator_tags_renamed",
    "check_valid_tag_types", "check_no_attributes_set_in_init",
    "check_parameters_default_constructible", "check_get_params_invariance",
    "check_set_params", "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
    "check_dont_overwrite_parameters", "check_estimators_overwrite_params",
    "check_estimators_fit_returns_self", "check_estimators_unfitted",
    "check_transformers_unfitted", "check_fit_check_is_fitted", "check_requires_y_none",
    "check_transformer_preserve_dtypes",
]


@pytest.mark.parametrize("cls", FEATURIZERS)
@pytest.mark.parametrize("check", API_CHECKS)
def test_sklearn_api_checks(cls, check):
    getattr(estimator_checks, check)(cls.__name__, cls())


@pytest.mark.parametrize("cls", FEATURIZERS)
def test_sklearn_tags(cls):
    tags = get_tags(cls())
    assert tags.input_tags.string and tags.input_tags.two_d_array
    assert tags.requires_fit and not tags.target_tags.required
    assert tags.transformer_tags.preserves_dtype == []
