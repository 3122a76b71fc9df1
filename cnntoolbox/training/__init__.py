"""Training support: a batch's ff and bp in pieces (``parallel``) and the checkpoints (``checkpoint``)."""
