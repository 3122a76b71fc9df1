"""Data sets: MNIST (``mnist``: the IDX files, the toolbox's layouts) and a small colour set (``synthetic``)."""
