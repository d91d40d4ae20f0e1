"""scikit-learn's parameter rules, imported here alone: they live in a private module
(`sklearn.utils._param_validation`), which scikit-learn's own estimators and this project's use to
declare what each parameter takes (`_parameter_constraints`) and to check it before a fit. If a
scikit-learn release moves them, this is the one import to mend; tests/test_estimators.py fails
on such a release (every estimator here declares its rules with them).
"""

from sklearn.utils._param_validation import InvalidParameterError, Interval, StrOptions, make_constraint

__all__ = ["InvalidParameterError", "Interval", "StrOptions", "make_constraint"]
