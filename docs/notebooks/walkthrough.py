# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Backpropagation in a CNN, cell by cell
#
# The notebook form of [the walkthrough](../walkthrough.md) (繁體中文:
# `walkthrough.zh-TW.py`). It follows the blog post "Convolutional Neural Net
# 筆記" section by section; a heading in quotes is the post's section of that
# title. Each step prints Bouvrie's formula, the toolbox's Matlab line and the
# Python line of `cnntoolbox/literal.py`, then computes the step itself, live,
# and checks it against `cnnff`/`cnnbp`. Change a cell and run it again.
#
# Open it from a clone with the `notebook` extra installed:
#
#     pip install -e ".[notebook]"
#     jupytext --to notebook docs/notebooks/walkthrough.py
#     jupyter notebook docs/notebooks/walkthrough.ipynb   # pip install notebook; or JupyterLab, VS Code
#
# (the `.py` file is the notebook kept as text, with no outputs; the `.ipynb`
# is yours to run and change.)

# %%
import numpy as np

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck, literal
from cnntoolbox.teaching import practice, steps, worked


def show(key):
    """Bouvrie's formula (or the step's own), the toolbox's Matlab line, the literal.py line."""
    step = steps.STEPS[key]
    print(f"{step.field}  ({step.what})")
    print(f"  {'Bouvrie' if step.bouvrie else 'Formula'}: {step.formula}")
    for line in steps.matlab_lines(step):
        print(f"  Matlab:  {line}")
    for line in steps.python_lines(step):
        print(f"  Python:  {line}")


np.set_printoptions(precision=6, suppress=True)

# %% [markdown]
# ## The worked example
#
# The post's shapes at the end (a 2x2 last map, a feature vector of 4, three
# outputs), small layers of our own in front: a 14x14 input, two conv layers
# with one 3x3 kernel each, two mean-pool layers of scale 2. `cnnsetup` draws
# the weights from a fixed seed; they are rounded to multiples of 1/1024.
# One sample, labelled with the first class.

# %%
setup, x, y = worked.example_net()
net = cnnff(setup, x)
for number, layer in enumerate(net["layers"], start=1):
    print(f"layer {number}  '{layer['type']}'  map {layer['a'][0].shape[:2]}")
print("ffW", net["ffW"].shape, " ffb", net["ffb"].shape, " y", y[:, 0])

# %% [markdown]
# ## 1. "概念介紹"
#
# Conv layers make maps by convolving the maps before them with kernels,
# adding a bias and applying the sigmoid; subsampling layers take block
# means and learn nothing; the last maps, read out into one vector, feed a
# fully connected sigmoid output layer. What the net learns: the kernels and
# biases of the conv layers, and the output layer's `ffW` and `ffb`.

# %%
learned = {f"layers{{{n + 1}}}": ("k", "b") for n, layer in enumerate(setup["layers"]) if layer["type"] == "c"}
print(learned, "and ffW, ffb")

# %% [markdown]
# ## 2. "已知類神經數學推導"
#
# The toolbox's loss is half the sum of the squared errors over the batch
# (`net.L`), not the root-mean-square error the post names:

# %%
bp = cnnbp(net, y)
show("L")
print("net.L               ", bp["L"])
print("1/2 * sum(e.^2) / m ", 0.5 * np.sum(bp["e"] ** 2) / y.shape[1])
print("root-mean-square    ", np.sqrt(np.mean(bp["e"] ** 2)))

# %% [markdown]
# ## 3. "Forward mapping"
# ### "第一層卷積層"
#
# `convn` is a true convolution: it slides the kernel rotated by 180 degrees.

# %%
show("a_c1")
k1, b1 = setup["layers"][1]["k"][0][0], setup["layers"][1]["b"][0]
a_c1 = literal.sigm(literal.convn(x, k1, "valid") + b1)
print(practice.check(net, "layers{2}.a{1}", a_c1))

# %% [markdown]
# ### "第一層sub層"
#
# A mean of each 2x2 block: `convn` with a kernel of `1/scale^2`, then every
# second row and column.

# %%
show("a_s1")
a_s1 = literal.convn(a_c1, np.ones((2, 2, 1)) / 2 ** 2, "valid")[::2, ::2, :]
print(practice.check(net, "layers{3}.a{1}", a_s1))

# %% [markdown]
# ### "全連接層"
#
# The last maps are read column by column (Matlab's order) into the feature
# vector; a 20x20 map would give 400 values, the 2x2 map here gives 4.

# %%
show("fv")
a_s2 = net["layers"][4]["a"][0]
fv = a_s2.reshape(-1, 1, order="F")
print(practice.check(net, "fv", fv))
show("o")
o = literal.sigm(net["ffW"] @ fv + net["ffb"])
print(practice.check(net, "o", o), "\noutputs", o[:, 0])

# %% [markdown]
# ## 4. "Backward mapping"
# ### "從最後一層傳到sub層(S2)"
#
# The last layer's delta is the error times the sigmoid's slope `o .* (1 - o)`,
# not the error itself. The post assumes outputs of 0.5 and errors 0.4, 0.8,
# 0.16; Part 1 of the example builds that state from real weights (only the
# labels are forced), so both can be run:

# %%
show("od")
od = bp["e"] * (bp["o"] * (1 - bp["o"]))
print(practice.check(bp, "od", od), "\nod", od[:, 0])
post, post_x, post_y = worked.post_net(setup)
post_bp = cnnbp(cnnff(post, post_x), post_y)
print("post's state: o", post_bp["o"][:, 0], " e", post_bp["e"][:, 0], " od", post_bp["od"][:, 0])

# %% [markdown]
# The feature vector's delta sums every output's delta through its weight:
# `fvd(k) = sum_i ffW(i, k) * od(i)` (the post repeats `od(k)` instead).
# Reshaped column by column it is the S2 delta.

# %%
show("fvd")
fvd = np.array([[sum(bp["ffW"][i, k] * od[i, 0] for i in range(3))] for k in range(4)])
print(practice.check(bp, "fvd", fvd))
show("d_s2")
d_s2 = fvd.reshape(2, 2, 1, order="F")
print(practice.check(bp, "layers{5}.d{1}", d_s2))

# %% [markdown]
# ### "從sub層傳到conv層(C2)"
#
# Each C2 value enters its S2 mean with the weight `1/scale^2`, so it gets
# that share of the S2 delta, times its own sigmoid's slope.

# %%
show("d_c2")
a_c2 = bp["layers"][3]["a"][0]
d_c2 = a_c2 * (1 - a_c2) * (literal.expand(d_s2, [2, 2, 1]) / 2 ** 2)
print(practice.check(bp, "layers{4}.d{1}", d_c2))

# %% [markdown]
# ### "從conv層傳到sub層(S1)"
#
# The transpose of the valid convolution: a full convolution with the kernel
# rotated by 180 degrees (the rotation undoes the one `convn` makes).

# %%
show("d_s1")
k2 = bp["layers"][3]["k"][0][0]
d_s1 = literal.convn(d_c2, literal.rot180(k2), "full")
print(practice.check(bp, "layers{3}.d{1}", d_s1))
print("without rot180:", practice.check(bp, "layers{3}.d{1}", literal.convn(d_c2, k2, "full")))
show("d_c1")
a_c1 = bp["layers"][1]["a"][0]
d_c1 = a_c1 * (1 - a_c1) * (literal.expand(d_s1, [2, 2, 1]) / 2 ** 2)
print(practice.check(bp, "layers{2}.d{1}", d_c1))

# %% [markdown]
# ### "Error對w的微分"
#
# A kernel weight is used at every position, so its gradient sums the delta
# times the input it met: `convn` of the input flipped in every dimension
# (`flipall`) with the delta.

# %%
show("dk_c2")
dk_c2 = literal.convn(literal.flipall(bp["layers"][2]["a"][0]), d_c2, "valid")[:, :, 0] / d_c2.shape[2]
print(practice.check(bp, "layers{4}.dk{1}{1}", dk_c2))
dk_c1 = literal.convn(literal.flipall(x), d_c1, "valid")[:, :, 0] / d_c1.shape[2]
print(practice.check(bp, "layers{2}.dk{1}{1}", dk_c1))
show("dffW")
print(practice.check(bp, "dffW", od @ bp["fv"].T / y.shape[1]))

# %% [markdown]
# ### "Error對b的微分"
#
# A bias is added at every position: its gradient is the sum of the map's
# deltas over the batch size.

# %%
show("db_c2")
print(practice.check(bp, "layers{4}.db{1}", np.sum(d_c2) / d_c2.shape[2]))
print(practice.check(bp, "layers{2}.db{1}", np.sum(d_c1) / d_c1.shape[2]))
print(practice.check(bp, "dffb", np.mean(od, axis=1)))

# %% [markdown]
# ### "然後帶入學習率算出學習之後的W"
#
# One step of plain gradient descent with the learning rate `opts.alpha`.

# %%
show("k_c2")
after = cnnapplygrads(bp, {"alpha": 1.0})
print(practice.check(after, "layers{4}.k{1}{1}", k2 - 1.0 * dk_c2))
print("loss before", bp["L"], " after one step", cnnbp(cnnff(after, x), y)["L"])

# %% [markdown]
# ## Checking every gradient: `cnnnumgradcheck`
#
# Central differences for every weight, against `cnnbp`'s gradients; it
# raises `GradientCheckError` at the first weight that disagrees.

# %%
cnnnumgradcheck(bp, x, y)
print("cnnnumgradcheck: every gradient agrees")

# %% [markdown]
# ## Exercises
#
# Each cell runs and asks `practice.check` to compare one quantity with
# `cnnbp`'s; the line marked `TODO` is wrong on purpose, so the checker names
# the first wrong element. Fix the line until it prints `right`. The answers
# are at the end, their cells folded.

# %% [markdown]
# 1. `fvd` by hand, in the state whose outputs are the post's errors (labels 0).

# %%
from cnntoolbox.teaching import practice

net = practice.net("o = e")              # outputs = the post's errors, labels 0, after cnnbp
W, od = net["ffW"], net["od"]            # ffW: 3x4, od: 3x1
my_fvd = [0.0, 0.0, 0.0, 0.0]
for k in range(4):
    my_fvd[k] = W[0, k] * od[0, 0]       # TODO: every output's term, not only the first
print(practice.check(net, "fvd", my_fvd))

# %% [markdown]
# 2. Why `rot180`, why `/ scale^2`: the S1 delta, then the C2 delta.

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")            # Part 2 of the worked example, after cnnbp
k = net["layers"][3]["k"][0][0]          # C2's kernel, 3x3
d_c2 = net["layers"][3]["d"][0]          # C2's delta, 4x4x1
my_d_s1 = literal.convn(d_c2, k, "full")     # TODO: which way round must the kernel be?
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")
a_c2 = net["layers"][3]["a"][0]          # C2's output, 4x4x1
d_s2 = net["layers"][4]["d"][0]          # S2's delta, 2x2x1
my_d_c2 = a_c2 * (1 - a_c2) * literal.expand(d_s2, [2, 2, 1])     # TODO: each value's share of the mean
print(practice.check(net, "layers{4}.d{1}", my_d_c2))

# %% [markdown]
# 3. S1 subsamples by 3: which number divides the expanded S1 delta?

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("scale3")             # maps 20x20 -> 18x18 -> 6x6 -> 4x4 -> 2x2
a_c1 = net["layers"][1]["a"][0]          # C1's output, 18x18x1
d_s1 = net["layers"][2]["d"][0]          # S1's delta, 6x6x1
my_d_c1 = a_c1 * (1 - a_c1) * literal.expand(d_s1, [3, 3, 1]) / 4     # TODO: divided by what now?
print(practice.check(net, "layers{2}.d{1}", my_d_c1))

# %% [markdown]
# 4. A last 'c' layer: `cnnbp.m` multiplies `fvd` by `fv .* (1 - fv)`.

# %%
from cnntoolbox.teaching import practice

net = practice.net("last-c")             # the last layer is C2: fv is a sigmoid output
my_fvd = net["ffW"].T @ net["od"]        # TODO: one factor more than after an 's' layer
print(practice.check(net, "fvd", my_fvd))

# %% [markdown]
# 5. Two maps per layer: what does the S1 delta of map 1 sum over?

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("two-maps")           # two maps in C1, S1, C2, S2
c2 = net["layers"][3]                    # c2["k"][i][j]: from S1 map i to C2 map j
my_d_s1 = literal.convn(c2["d"][0], literal.rot180(c2["k"][0][0]), "full")  # TODO: and C2 map 2?
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %% [markdown]
# 6. Saturated and wrong: outputs 0.01, 0.99, 0.01 with the label of the
#    first class. Compute `od`.

# %%
from cnntoolbox.teaching import practice

net = practice.net("saturated")          # outputs 0.01, 0.99, 0.01; label: the first class
my_od = net["e"]                         # TODO: the output delta is not the error itself
print(practice.check(net, "od", my_od))

# %% [markdown]
# ## Answers
#
# Each cell is folded; unfold it (or run it) when you have tried.

# %% jupyter={"source_hidden": true}
from cnntoolbox.teaching import practice

net = practice.net("o = e")              # outputs = the post's errors, labels 0, after cnnbp
W, od = net["ffW"], net["od"]            # ffW: 3x4, od: 3x1
my_fvd = [0.0, 0.0, 0.0, 0.0]
for k in range(4):
    my_fvd[k] = sum(W[i, k] * od[i, 0] for i in range(3))
print(practice.check(net, "fvd", my_fvd))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")            # Part 2 of the worked example, after cnnbp
k = net["layers"][3]["k"][0][0]          # C2's kernel, 3x3
d_c2 = net["layers"][3]["d"][0]          # C2's delta, 4x4x1
my_d_s1 = literal.convn(d_c2, literal.rot180(k), "full")
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")
a_c2 = net["layers"][3]["a"][0]          # C2's output, 4x4x1
d_s2 = net["layers"][4]["d"][0]          # S2's delta, 2x2x1
my_d_c2 = a_c2 * (1 - a_c2) * literal.expand(d_s2, [2, 2, 1]) / 2 ** 2
print(practice.check(net, "layers{4}.d{1}", my_d_c2))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("scale3")             # maps 20x20 -> 18x18 -> 6x6 -> 4x4 -> 2x2
a_c1 = net["layers"][1]["a"][0]          # C1's output, 18x18x1
d_s1 = net["layers"][2]["d"][0]          # S1's delta, 6x6x1
my_d_c1 = a_c1 * (1 - a_c1) * literal.expand(d_s1, [3, 3, 1]) / 3 ** 2
print(practice.check(net, "layers{2}.d{1}", my_d_c1))

# %% jupyter={"source_hidden": true}
from cnntoolbox.teaching import practice

net = practice.net("last-c")             # the last layer is C2: fv is a sigmoid output
my_fvd = net["ffW"].T @ net["od"] * (net["fv"] * (1 - net["fv"]))
print(practice.check(net, "fvd", my_fvd))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("two-maps")           # two maps in C1, S1, C2, S2
c2 = net["layers"][3]                    # c2["k"][i][j]: from S1 map i to C2 map j
my_d_s1 = sum(literal.convn(c2["d"][j], literal.rot180(c2["k"][0][j]), "full") for j in range(2))
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %% jupyter={"source_hidden": true}
from cnntoolbox.teaching import practice

net = practice.net("saturated")          # outputs 0.01, 0.99, 0.01; label: the first class
my_od = net["e"] * net["o"] * (1 - net["o"])
print(practice.check(net, "od", my_od))
