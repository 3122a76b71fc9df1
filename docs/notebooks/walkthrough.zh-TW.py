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
# # 逐格走一次 CNN 的反向傳播
#
# 這是[對照讀本](../walkthrough.zh-TW.md)的 notebook 版（英文版：`walkthrough.py`），
# 依部落格文章〈Convolutional Neural Net 筆記〉的章節逐節進行；標題加上「」的各節就是
# 原文同名的章節。每一步先印出 Bouvrie 的公式、工具箱的 Matlab 那一行與
# `cnntoolbox/literal.py` 的 Python 那一行，再當場把這一步算出來，並和 `cnnff`/`cnnbp`
# 的結果比較。改動任何一格，再執行一次看看。
#
# 在專案的複本裡安裝 `notebook` 這組額外套件後開啟：
#
#     pip install -e ".[notebook]"
#     jupytext --to notebook docs/notebooks/walkthrough.zh-TW.py
#     jupyter notebook docs/notebooks/walkthrough.zh-TW.ipynb   # 先 pip install notebook；或用 JupyterLab、VS Code
#
# （`.py` 檔是以純文字保存、不含輸出的 notebook；轉出來的 `.ipynb` 讓你自己執行與修改。）

# %%
import numpy as np

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck, literal
from cnntoolbox.teaching import practice, steps, worked


def show(key):
    """印出 Bouvrie 的公式（或這一步自己的公式）、工具箱的 Matlab 那一行、literal.py 的那一行。"""
    step = steps.STEPS[key]
    print(f"{step.field}  ({step.what})")
    print(f"  {'Bouvrie' if step.bouvrie else 'Formula'}: {step.formula}")
    for line in steps.matlab_lines(step):
        print(f"  Matlab:  {line}")
    for line in steps.python_lines(step):
        print(f"  Python:  {line}")


np.set_printoptions(precision=6, suppress=True)

# %% [markdown]
# ## 範例網路
#
# 最後幾層是原文的形狀（2x2 的最後一張 map、長度 4 的特徵向量、三個輸出），前面是我們
# 自己選的小尺寸：14x14 的輸入、兩個各有一個 3x3 kernel 的卷積層、兩個縮小 2 倍的平均
# 池化層。權重由 `cnnsetup` 以固定的亂數種子產生，並四捨五入到 1/1024 的整數倍。
# 只有一筆樣本，標籤是第一類。

# %%
setup, x, y = worked.example_net()
net = cnnff(setup, x)
for number, layer in enumerate(net["layers"], start=1):
    print(f"layer {number}  '{layer['type']}'  map {layer['a'][0].shape[:2]}")
print("ffW", net["ffW"].shape, " ffb", net["ffb"].shape, " y", y[:, 0])

# %% [markdown]
# ## 1. 「概念介紹」
#
# 卷積層把前一層的 map 和 kernel 做卷積、加上 bias、再通過 sigmoid；sub 層取區塊平均，
# 不學任何東西；最後幾張 map 攤開成一條向量，接到全連接的 sigmoid 輸出層。網路要學的是
# 卷積層的 kernel 與 bias，以及輸出層的 `ffW` 與 `ffb`。

# %%
learned = {f"layers{{{n + 1}}}": ("k", "b") for n, layer in enumerate(setup["layers"]) if layer["type"] == "c"}
print(learned, "and ffW, ffb")

# %% [markdown]
# ## 2. 「已知類神經數學推導」
#
# 工具箱的損失是誤差平方和的一半、再對 batch 平均（`net.L`），不是原文說的方均根差：

# %%
bp = cnnbp(net, y)
show("L")
print("net.L               ", bp["L"])
print("1/2 * sum(e.^2) / m ", 0.5 * np.sum(bp["e"] ** 2) / y.shape[1])
print("方均根               ", np.sqrt(np.mean(bp["e"] ** 2)))

# %% [markdown]
# ## 3. 「Forward mapping」
# ### 「第一層卷積層」
#
# `convn` 是真正的卷積：它把 kernel 旋轉 180 度後再滑動。

# %%
show("a_c1")
k1, b1 = setup["layers"][1]["k"][0][0], setup["layers"][1]["b"][0]
a_c1 = literal.sigm(literal.convn(x, k1, "valid") + b1)
print(practice.check(net, "layers{2}.a{1}", a_c1))

# %% [markdown]
# ### 「第一層sub層」
#
# 每個 2x2 區塊取平均：和元素都是 `1/scale^2` 的 kernel 做 `convn`，再每隔一列、一行取值。

# %%
show("a_s1")
a_s1 = literal.convn(a_c1, np.ones((2, 2, 1)) / 2 ** 2, "valid")[::2, ::2, :]   # 每隔 2 取一個：區塊平均
print(practice.check(net, "layers{3}.a{1}", a_s1))

# %% [markdown]
# ### 「全連接層」
#
# 最後幾張 map 依 Matlab 的順序逐欄讀出，攤開成特徵向量；20x20 的 map 會得到 400 個值，
# 這裡 2x2 的 map 得到 4 個。

# %%
show("fv")
a_s2 = net["layers"][4]["a"][0]
fv = a_s2.reshape(-1, 1, order="F")              # order="F"：逐欄，和 Matlab 相同
print(practice.check(net, "fv", fv))
show("o")
o = literal.sigm(net["ffW"] @ fv + net["ffb"])
print(practice.check(net, "o", o), "\n輸出", o[:, 0])

# %% [markdown]
# ## 4. 「Backward mapping」
# ### 「從最後一層傳到sub層(S2)」
#
# 最後一層的敏感度是誤差乘上 sigmoid 的斜率 `o .* (1 - o)`，不是誤差本身。原文假設輸出都是
# 0.5、誤差是 0.4、0.8、0.16；範例的第一部分用真實的權重做出這個狀態（只有標籤是硬湊的），
# 所以兩種狀態都能執行：

# %%
show("od")
od = bp["e"] * (bp["o"] * (1 - bp["o"]))
print(practice.check(bp, "od", od), "\nod", od[:, 0])
post, post_x, post_y = worked.post_net(setup)      # 原文的狀態：每個輸出都是 0.5
post_bp = cnnbp(cnnff(post, post_x), post_y)
print("原文的狀態：o", post_bp["o"][:, 0], " e", post_bp["e"][:, 0], " od", post_bp["od"][:, 0])

# %% [markdown]
# 特徵向量的敏感度把每個輸出的敏感度乘上對應的權重再加總：`fvd(k) = sum_i ffW(i, k) * od(i)`
# （原文在這裡重複用了 `od(k)`）。逐欄放回 map，就是 S2 的敏感度。

# %%
show("fvd")
fvd = np.array([[sum(bp["ffW"][i, k] * od[i, 0] for i in range(3))] for k in range(4)])   # 對輸出 i 加總
print(practice.check(bp, "fvd", fvd))
show("d_s2")
d_s2 = fvd.reshape(2, 2, 1, order="F")
print(practice.check(bp, "layers{5}.d{1}", d_s2))

# %% [markdown]
# ### 「從sub層傳到conv層(C2)」
#
# 每個 C2 的值以 `1/scale^2` 的權重進入 S2 的平均，所以分到 S2 敏感度的這一份，再乘上
# 它自己 sigmoid 的斜率。

# %%
show("d_c2")
a_c2 = bp["layers"][3]["a"][0]
d_c2 = a_c2 * (1 - a_c2) * (literal.expand(d_s2, [2, 2, 1]) / 2 ** 2)   # 複製到區塊，再除以 scale^2
print(practice.check(bp, "layers{4}.d{1}", d_c2))

# %% [markdown]
# ### 「從conv層傳到sub層(S1)」
#
# valid 卷積的轉置：和旋轉 180 度的 kernel 做 full 卷積（這個旋轉抵銷了 `convn` 本身的旋轉）。

# %%
show("d_s1")
k2 = bp["layers"][3]["k"][0][0]
d_s1 = literal.convn(d_c2, literal.rot180(k2), "full")
print(practice.check(bp, "layers{3}.d{1}", d_s1))
print("少了 rot180：", practice.check(bp, "layers{3}.d{1}", literal.convn(d_c2, k2, "full")))
show("d_c1")
a_c1 = bp["layers"][1]["a"][0]
d_c1 = a_c1 * (1 - a_c1) * (literal.expand(d_s1, [2, 2, 1]) / 2 ** 2)
print(practice.check(bp, "layers{2}.d{1}", d_c1))

# %% [markdown]
# ### 「Error對w的微分」
#
# kernel 的每個權重在每個位置都用到一次，所以它的微分是「敏感度乘上它遇到的輸入」的總和：
# 把輸入在每個維度都翻轉（`flipall`）後，和敏感度做 `convn`。

# %%
show("dk_c2")
dk_c2 = literal.convn(literal.flipall(bp["layers"][2]["a"][0]), d_c2, "valid")[:, :, 0] / d_c2.shape[2]
print(practice.check(bp, "layers{4}.dk{1}{1}", dk_c2))
dk_c1 = literal.convn(literal.flipall(x), d_c1, "valid")[:, :, 0] / d_c1.shape[2]
print(practice.check(bp, "layers{2}.dk{1}{1}", dk_c1))
show("dffW")
print(practice.check(bp, "dffW", od @ bp["fv"].T / y.shape[1]))

# %% [markdown]
# ### 「Error對b的微分」
#
# bias 加在每個位置上：它的微分是該 map 所有敏感度的總和，再除以 batch 大小。

# %%
show("db_c2")
print(practice.check(bp, "layers{4}.db{1}", np.sum(d_c2) / d_c2.shape[2]))
print(practice.check(bp, "layers{2}.db{1}", np.sum(d_c1) / d_c1.shape[2]))
print(practice.check(bp, "dffb", np.mean(od, axis=1)))

# %% [markdown]
# ### 「然後帶入學習率算出學習之後的W」
#
# 以學習率 `opts.alpha` 做一步最基本的梯度下降。

# %%
show("k_c2")
after = cnnapplygrads(bp, {"alpha": 1.0})
print(practice.check(after, "layers{4}.k{1}{1}", k2 - 1.0 * dk_c2))
print("更新前的損失", bp["L"], " 一步之後", cnnbp(cnnff(after, x), y)["L"])

# %% [markdown]
# ## 檢查每一個梯度：`cnnnumgradcheck`
#
# 對每個權重做中央差分，和 `cnnbp` 的梯度比較；遇到第一個不符的權重就丟出
# `GradientCheckError`。

# %%
cnnnumgradcheck(bp, x, y)
print("cnnnumgradcheck：每個梯度都相符")

# %% [markdown]
# ## 練習
#
# 每一格都能直接執行，並請 `practice.check` 把一個量和 `cnnbp` 算出的值比較；標著
# `TODO` 的那一行是故意寫錯的，所以檢查器會指出第一個錯誤的元素。把那一行改到印出
# `right` 為止。答案在最後，程式格預設收合。

# %% [markdown]
# 1. 手算 `fvd`：在輸出等於原文誤差（標籤為 0）的狀態下。

# %%
from cnntoolbox.teaching import practice

net = practice.net("o = e")              # 輸出就是原文的誤差、標籤為 0，已跑過 cnnbp
W, od = net["ffW"], net["od"]            # ffW 是 3x4，od 是 3x1
my_fvd = [0.0, 0.0, 0.0, 0.0]
for k in range(4):
    my_fvd[k] = W[0, k] * od[0, 0]       # TODO：要加上每個輸出的項，不只第一個
print(practice.check(net, "fvd", my_fvd))

# %% [markdown]
# 2. 為什麼要 `rot180`、為什麼要 `/ scale^2`：先算 S1 的敏感度，再算 C2 的敏感度。

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")            # 範例的第二部分，已跑過 cnnbp
k = net["layers"][3]["k"][0][0]          # C2 的 kernel，3x3
d_c2 = net["layers"][3]["d"][0]          # C2 的敏感度，4x4x1
my_d_s1 = literal.convn(d_c2, k, "full")     # TODO：kernel 要轉成哪個方向？
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")
a_c2 = net["layers"][3]["a"][0]          # C2 的輸出，4x4x1
d_s2 = net["layers"][4]["d"][0]          # S2 的敏感度，2x2x1
my_d_c2 = a_c2 * (1 - a_c2) * literal.expand(d_s2, [2, 2, 1])     # TODO：每個值在平均裡占多少
print(practice.check(net, "layers{4}.d{1}", my_d_c2))

# %% [markdown]
# 3. S1 縮小 3 倍：展開後的 S1 敏感度要除以多少？

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("scale3")             # map 大小 20x20 -> 18x18 -> 6x6 -> 4x4 -> 2x2
a_c1 = net["layers"][1]["a"][0]          # C1 的輸出，18x18x1
d_s1 = net["layers"][2]["d"][0]          # S1 的敏感度，6x6x1
my_d_c1 = a_c1 * (1 - a_c1) * literal.expand(d_s1, [3, 3, 1]) / 4     # TODO：現在要除以多少？
print(practice.check(net, "layers{2}.d{1}", my_d_c1))

# %% [markdown]
# 4. 最後一層是卷積層：`cnnbp.m` 會把 `fvd` 再乘上 `fv .* (1 - fv)`。

# %%
from cnntoolbox.teaching import practice

net = practice.net("last-c")             # 最後一層是 C2：fv 是 sigmoid 的輸出
my_fvd = net["ffW"].T @ net["od"]        # TODO：比接在 's' 層後面時多一個因子
print(practice.check(net, "fvd", my_fvd))

# %% [markdown]
# 5. 每層兩張 map：第 1 張 map 的 S1 敏感度要對什麼加總？

# %%
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("two-maps")           # C1、S1、C2、S2 各有兩張 map
c2 = net["layers"][3]                    # c2["k"][i][j]：從 S1 第 i 張 map 到 C2 第 j 張 map
my_d_s1 = literal.convn(c2["d"][0], literal.rot180(c2["k"][0][0]), "full")  # TODO：C2 的第 2 張 map 呢？
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %% [markdown]
# 6. 飽和又錯誤：輸出 0.01、0.99、0.01，標籤是第一類。計算 `od`。

# %%
from cnntoolbox.teaching import practice

net = practice.net("saturated")          # 輸出 0.01、0.99、0.01；標籤是第一類
my_od = net["e"]                         # TODO：輸出層的敏感度不是誤差本身
print(practice.check(net, "od", my_od))

# %% [markdown]
# ## 答案
#
# 每一格都預設收合；自己試過之後再展開（或直接執行）。

# %% jupyter={"source_hidden": true}
from cnntoolbox.teaching import practice

net = practice.net("o = e")              # 輸出就是原文的誤差、標籤為 0，已跑過 cnnbp
W, od = net["ffW"], net["od"]            # ffW 是 3x4，od 是 3x1
my_fvd = [0.0, 0.0, 0.0, 0.0]
for k in range(4):
    my_fvd[k] = sum(W[i, k] * od[i, 0] for i in range(3))
print(practice.check(net, "fvd", my_fvd))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")            # 範例的第二部分，已跑過 cnnbp
k = net["layers"][3]["k"][0][0]          # C2 的 kernel，3x3
d_c2 = net["layers"][3]["d"][0]          # C2 的敏感度，4x4x1
my_d_s1 = literal.convn(d_c2, literal.rot180(k), "full")
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")
a_c2 = net["layers"][3]["a"][0]          # C2 的輸出，4x4x1
d_s2 = net["layers"][4]["d"][0]          # S2 的敏感度，2x2x1
my_d_c2 = a_c2 * (1 - a_c2) * literal.expand(d_s2, [2, 2, 1]) / 2 ** 2
print(practice.check(net, "layers{4}.d{1}", my_d_c2))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("scale3")             # map 大小 20x20 -> 18x18 -> 6x6 -> 4x4 -> 2x2
a_c1 = net["layers"][1]["a"][0]          # C1 的輸出，18x18x1
d_s1 = net["layers"][2]["d"][0]          # S1 的敏感度，6x6x1
my_d_c1 = a_c1 * (1 - a_c1) * literal.expand(d_s1, [3, 3, 1]) / 3 ** 2
print(practice.check(net, "layers{2}.d{1}", my_d_c1))

# %% jupyter={"source_hidden": true}
from cnntoolbox.teaching import practice

net = practice.net("last-c")             # 最後一層是 C2：fv 是 sigmoid 的輸出
my_fvd = net["ffW"].T @ net["od"] * (net["fv"] * (1 - net["fv"]))
print(practice.check(net, "fvd", my_fvd))

# %% jupyter={"source_hidden": true}
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("two-maps")           # C1、S1、C2、S2 各有兩張 map
c2 = net["layers"][3]                    # c2["k"][i][j]：從 S1 第 i 張 map 到 C2 第 j 張 map
my_d_s1 = sum(literal.convn(c2["d"][j], literal.rot180(c2["k"][0][j]), "full") for j in range(2))
print(practice.check(net, "layers{3}.d{1}", my_d_s1))

# %% jupyter={"source_hidden": true}
from cnntoolbox.teaching import practice

net = practice.net("saturated")          # 輸出 0.01、0.99、0.01；標籤是第一類
my_od = net["e"] * net["o"] * (1 - net["o"])
print(practice.check(net, "od", my_od))
