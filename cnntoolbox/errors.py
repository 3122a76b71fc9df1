"""Exceptions of cnntoolbox that are not plain bad-argument errors."""


class GradientCheckError(AssertionError):
    """``cnnnumgradcheck`` found an analytic gradient that differs from the numerical one.

    Matlab's ``error('numerical gradient checking failed')``; the message also
    names the parameter and both values.
    """


class DivergenceError(FloatingPointError):
    """The loss became NaN or Inf during ``cnntrain`` (Matlab carries on silently)."""
