"""Exceptions and warnings of cnntoolbox that are not plain bad-argument errors."""


class GradientCheckError(AssertionError):
    """``cnnnumgradcheck`` found an analytic gradient that differs from the numerical one.

    Matlab's ``error('numerical gradient checking failed')``; the message also
    names the parameter and both values.
    """


class DivergenceError(FloatingPointError):
    """The loss became NaN or Inf during ``cnntrain`` (Matlab carries on silently)."""


class UnknownKeyWarning(UserWarning):
    """A key of the net, of a layer or of opts that no routine reads, named with the nearest known key.

    Matlab ignores a struct field no routine reads, so a misspelt option
    (``opts.momentun``) trains silently without it.
    """
