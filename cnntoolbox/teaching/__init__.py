"""The teaching material: the blog post's worked example, step by step, and what shows it.

``worked`` runs the tiny example net through the port's routines and
computes each step by hand beside them; ``text`` renders the numbers and
blocks of ``docs/walkthrough*.md``; ``walkthrough`` rewrites those blocks
in the docs; ``figures`` draws the teaching figures
(``cnntoolbox figures --out DIR``).
"""
