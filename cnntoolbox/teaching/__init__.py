"""The teaching material: the blog post's worked example, step by step, and what shows it.

Modules, each importing only those above it:

* ``steps``: what each step is (Bouvrie's formula, the ``.m`` line, the
  ``literal.py`` statement named by its ``# teach:`` marker);
* ``hand``: the backward pass by the chain rule (transposes of the forward
  operations as matrices built from ``literal.py``);
* ``worked``: the example net, its two states, and the checks against
  ``cnnff``/``cnnbp``/``cnnapplygrads`` (``cnntoolbox.reference.compare``,
  ``cnnnumgradcheck``);
* ``questions``: the post's slips and readers' questions in numbers;
* ``exercises``: the exercises' answers;
* ``octave``: what the original does with one sample under Octave;
* ``text``: the numbers and blocks as text, and the trace
  (``python -m cnntoolbox.teaching [--full]``);
* ``practice``: the exercises as a student runs them: starter code, answers,
  and ``check``, which names the first element that differs from ``cnnbp``'s;
* ``walkthrough``: fills the markers of ``docs/walkthrough*.md``;
* ``figures``: the PNGs (``python -m cnntoolbox figures --out DIR``).
"""
