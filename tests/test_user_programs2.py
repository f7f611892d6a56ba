"""Tiny ports of public PyTorch programs run with ``import tritongrad as torch`` (karpathy's nanoGPT, minGPT,
makemore, micrograd; the PyTorch tutorials), each exercising something those programs needed and tritongrad
lacked or got wrong. Every number is checked against NumPy reference math or a literal that torch 2.13 printed
(said where); optional direct comparisons with PyTorch are behind ``importorskip``.

The full programs (with synthetic data) and their comparisons with PyTorch are listed in the scripts2 report.
"""
import math

import numpy as np
import pytest

import tritongrad as torch
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from tritongrad.utils.data import DataLoader, Dataset

from _user_helpers import _np_grid_sample


# ------------------------------------------------------------ spatial transformer tutorial: affine_grid/grid_sample
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_is_theta_times_the_normalised_pixel_centres(align):
    rng = np.random.RandomState(0)
    th = rng.randn(2, 2, 3)
    grid = F.affine_grid(torch.tensor(th), (2, 1, 3, 4), align_corners=align).numpy()
    xs = np.linspace(-1, 1, 4) if align else (np.arange(4) * 2 + 1) / 4 - 1
    ys = np.linspace(-1, 1, 3) if align else (np.arange(3) * 2 + 1) / 3 - 1
    base = np.stack([np.broadcast_to(xs, (3, 4)), np.broadcast_to(ys[:, None], (3, 4)), np.ones((3, 4))], -1)
    np.testing.assert_allclose(grid, np.einsum("hwk,nik->nhwi", base, th), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 4), align_corners=align),
                                    (torch.tensor(th, requires_grad=True),))


@pytest.mark.parametrize("mode,padding,align", [("bilinear", "zeros", False), ("bilinear", "border", True),
                                                ("bilinear", "reflection", False), ("bilinear", "reflection", True),
                                                ("nearest", "zeros", False), ("nearest", "border", True)])
def test_grid_sample_matches_pytorchs_formula_and_gradients(mode, padding, align):
    rng = np.random.RandomState(1)
    x = rng.randn(2, 2, 3, 4)
    g = rng.uniform(-1.4, 1.4, size=(2, 2, 2, 2))
    out = F.grid_sample(torch.tensor(x), torch.tensor(g), mode=mode, padding_mode=padding, align_corners=align)
    np.testing.assert_allclose(out.numpy(), _np_grid_sample(x, g, mode, padding, align), rtol=1e-12, atol=1e-12)
    if mode == "bilinear":
        assert torch.autograd.gradcheck(
            lambda a, b: F.grid_sample(a, b, mode=mode, padding_mode=padding, align_corners=align),
            (torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)))


def test_grid_sample_on_cuda_matches_cpu_forward_and_backward():
    rng = np.random.RandomState(2)
    x, th = rng.randn(1, 2, 3, 4).astype(np.float32), rng.randn(1, 2, 3).astype(np.float32) * 0.5
    res = []
    for dev in ("cpu", "cuda"):
        xt = torch.tensor(x, device=dev, requires_grad=True)
        tt = torch.tensor(th, device=dev, requires_grad=True)
        out = F.grid_sample(xt, F.affine_grid(tt, (1, 2, 3, 4), align_corners=False), align_corners=False)
        (out * out).sum().backward()
        res.append([out.detach().cpu().numpy(), xt.grad.cpu().numpy(), tt.grad.cpu().numpy()])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_grid_sample_bad_input_errors():
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(RuntimeError, match="grid of shape"):
        F.grid_sample(x, torch.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, torch.zeros(1, 2, 2, 2), padding_mode="wrap")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.grid_sample(x, torch.zeros(1, 2, 2, 2), mode="bicubic")
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(torch.zeros(1, 3, 3), (1, 1, 2, 2))


def test_spatial_transformer_tutorial_step():
    """intermediate_source/spatial_transformer_tutorial.py's stn(): localisation net -> theta -> affine_grid ->
    grid_sample, then one SGD step; the identity-initialised theta makes grid_sample return its input."""
    torch.manual_seed(0)
    loc = nn.Sequential(nn.Conv2d(1, 2, kernel_size=3), nn.MaxPool2d(2, stride=2), nn.ReLU(True))
    fc_loc = nn.Sequential(nn.Linear(2 * 2 * 2, 4), nn.ReLU(True), nn.Linear(4, 3 * 2))
    fc_loc[2].weight.data.zero_()
    fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))
    x = torch.rand(2, 1, 6, 6)

    def stn(x):
        theta = fc_loc(loc(x).view(-1, 2 * 2 * 2)).view(-1, 2, 3)
        return F.grid_sample(x, F.affine_grid(theta, x.size()))

    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):   # the tutorial's defaults warn
        np.testing.assert_allclose(stn(x).detach().numpy(), x.numpy(), rtol=1e-6, atol=1e-6)
    opt = torch.optim.SGD(list(loc.parameters()) + list(fc_loc.parameters()), lr=0.5)
    with pytest.warns(UserWarning, match="align_corners"):
        loss = stn(x)[:, :, :, :3].sum()      # move the image right: theta's x-translation gets a gradient
    loss.backward()
    assert fc_loc[2].bias.grad.abs()[2].item() > 0
    opt.step()
    with pytest.warns(UserWarning, match="align_corners"):
        assert not np.allclose(stn(x).detach().numpy(), x.numpy())


# --------------------------------------------------------------------------- makemore (karpathy/makemore)
class _MakemoreMLP(nn.Module):
    """makemore.py's MLP model, verbatim but for sizes: it rolls ``idx`` and writes the <BLANK> token into
    column 0 of the rolled copy, which must not reach the caller's ``idx``."""

    def __init__(self, block_size, vocab_size, n_embd, n_embd2):
        super().__init__()
        self.block_size, self.vocab_size = block_size, vocab_size
        self.wte = nn.Embedding(vocab_size + 1, n_embd)
        self.mlp = nn.Sequential(nn.Linear(block_size * n_embd, n_embd2), nn.Tanh(), nn.Linear(n_embd2, vocab_size))

    def forward(self, idx, targets=None):
        embs = []
        for k in range(self.block_size):
            tok_emb = self.wte(idx)
            idx = torch.roll(idx, 1, 1)
            idx[:, 0] = self.vocab_size
            embs.append(tok_emb)
        x = torch.cat(embs, -1)
        logits = self.mlp(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_roll_is_a_new_tensor_even_for_a_full_turn(device):
    x = torch.arange(6, device=device).reshape(2, 3)
    for shifts, dims in ((3, 1), (0, 0), ((2, 3), (0, 1)), (6, None)):
        y = torch.roll(x, shifts, dims)
        y[0, 0] = 100
        assert x.tolist() == [[0, 1, 2], [3, 4, 5]], (shifts, dims)
    assert x.roll(1, 1).tolist() == [[2, 0, 1], [5, 3, 4]]


def test_makemore_mlp_keeps_the_callers_context_and_matches_numpy():
    torch.manual_seed(3407)
    model = _MakemoreMLP(block_size=3, vocab_size=5, n_embd=2, n_embd2=4)
    idx = torch.tensor([[0], [3]])            # a (b, 1) context: roll by 1 along a size-1 dim is a full turn
    logits, _ = model(idx)
    assert idx.tolist() == [[0], [3]]
    wte = model.wte.weight.detach().numpy()
    l1, l2 = model.mlp[0], model.mlp[2]
    ctx = np.array([[[0, 5, 5]], [[3, 5, 5]]])          # the token, then <BLANK> (= vocab_size) twice
    x = wte[ctx].reshape(2, 1, 6)
    ref = np.tanh(x @ l1.weight.detach().numpy().T + l1.bias.detach().numpy()) @ l2.weight.detach().numpy().T \
        + l2.bias.detach().numpy()
    np.testing.assert_allclose(logits.detach().numpy(), ref, rtol=1e-5, atol=1e-6)


class _Words(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return torch.tensor([i, i + 1]), torch.tensor(i)


def test_makemore_infinite_dataloader_draws_lazily_and_reproducibly():
    """makemore's InfiniteDataLoader: RandomSampler(replacement=True, num_samples=int(1e10)) must not
    materialise 1e10 indices (it drew them all at once: a 74 GiB allocation)."""
    def first_batches(seed):
        torch.manual_seed(seed)
        sampler = torch.utils.data.RandomSampler(_Words(), replacement=True, num_samples=int(1e10))
        it = iter(DataLoader(_Words(), sampler=sampler, batch_size=20))
        return [next(it) for _ in range(3)]
    a, b = first_batches(0), first_batches(0)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.shape == (20, 2) and xa.dtype == torch.int64
        assert xa.tolist() == xb.tolist() and (xa[:, 1] - xa[:, 0]).tolist() == [1] * 20
    drawn = [v for x, _ in a for v in x[:, 0].tolist()]
    assert set(drawn) <= set(range(7)) and len(set(drawn)) > 3
    assert len(torch.utils.data.RandomSampler(_Words(), replacement=True, num_samples=45)) == 45
    assert len(list(torch.utils.data.RandomSampler(_Words(), replacement=True, num_samples=45))) == 45


# ---------------------------------------------- "Learning PyTorch with examples": polynomial_autograd.py
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_polynomial_autograd_with_set_default_device(device):
    """polynomial_autograd.py calls ``torch.set_default_device(device)`` and then makes every tensor with no
    ``device=``. Three steps of its loop, against the same loop in NumPy (float64)."""
    assert torch.get_default_device() == torch.device("cpu")
    torch.set_default_device(device)
    try:
        assert torch.get_default_device().type == device
        x = torch.linspace(-1, 1, 50, dtype=torch.float64)
        y = torch.exp(x)
        a = torch.full((), 0.1, dtype=torch.float64, requires_grad=True)
        d = torch.full((), 0.05, dtype=torch.float64, requires_grad=True)
        assert x.device.type == device and a.device.type == device and torch.zeros(2).device.type == device
        assert torch.randn(2).device.type == device and torch.arange(3).device.type == device
        assert torch.from_numpy(np.zeros(2)).device.type == "cpu"        # from_numpy stays on cpu, as in PyTorch
        for _ in range(3):
            loss = (a + d * x ** 3 - y).pow(2).sum()
            loss.backward()
            with torch.no_grad():
                a -= 1e-2 * a.grad
                d -= 1e-2 * d.grad
                a.grad = None
                d.grad = None
    finally:
        torch.set_default_device(None)
    assert torch.zeros(1).device == torch.device("cpu")
    xn, yn, an, dn = np.linspace(-1, 1, 50), np.exp(np.linspace(-1, 1, 50)), 0.1, 0.05
    for _ in range(3):
        r = 2 * (an + dn * xn ** 3 - yn)
        an, dn = an - 1e-2 * r.sum(), dn - 1e-2 * (r * xn ** 3).sum()
    np.testing.assert_allclose([a.item(), d.item()], [an, dn], rtol=1e-12)


# --------------------------------------------------- text_sentiment_ngrams_tutorial.py: nn.EmbeddingBag
def _np_embedding_bag(inp, w, offsets, mode, psw=None, pad=None, last=False):
    ends = list(offsets[1:]) + [len(inp)]
    if last:
        ends = list(offsets[1:])
        offsets = offsets[:-1]
    out = []
    for s, e in zip(offsets, ends):
        rows = [w[i] * (1.0 if psw is None else psw[j]) for j, i in enumerate(inp) if s <= j < e and i != pad]
        if not rows:
            out.append(np.zeros(w.shape[1]))
        else:
            out.append({"sum": np.sum, "mean": np.mean, "max": np.max}[mode](rows, axis=0))
    return np.array(out)


@pytest.mark.parametrize("mode,pad,last", [("mean", None, False), ("sum", 4, True), ("max", 4, False),
                                           ("max", None, True), ("mean", 2, True)])
def test_embedding_bag_matches_its_definition(mode, pad, last):
    rng = np.random.RandomState(0)
    w = rng.randn(10, 3)
    inp, offs = [1, 2, 4, 5, 4, 3, 2, 9, 0, 0, 7], [0, 4, 4, 7, 11]     # an empty bag; an empty last bag
    psw = rng.rand(11) if mode == "sum" else None
    out = F.embedding_bag(torch.tensor(inp), torch.tensor(w), torch.tensor(offs), mode=mode, padding_idx=pad,
                          include_last_offset=last, per_sample_weights=None if psw is None else torch.tensor(psw))
    np.testing.assert_allclose(out.numpy(), _np_embedding_bag(inp, w, offs, mode, psw, pad, last), rtol=1e-12)
    assert torch.autograd.gradcheck(
        lambda t: F.embedding_bag(torch.tensor(inp), t, torch.tensor(offs), mode=mode, padding_idx=pad,
                                  include_last_offset=last), (torch.tensor(w, requires_grad=True),))


def test_embedding_bag_2d_input_module_and_errors():
    rng = np.random.RandomState(1)
    w = rng.randn(6, 2)
    bag = nn.EmbeddingBag.from_pretrained(torch.tensor(w), freeze=False, mode="sum")
    out = bag(torch.tensor([[1, 2, 3], [4, 4, 0]]))
    np.testing.assert_allclose(out.detach().numpy(), [w[1] + w[2] + w[3], 2 * w[4] + w[0]], rtol=1e-12)
    assert nn.EmbeddingBag(5, 2, padding_idx=1).weight[1].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="offsets has to be None"):
        bag(torch.tensor([[1]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor"):
        bag(torch.tensor([1, 2]))
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(torch.tensor([1]), torch.tensor(w), torch.tensor([0]), mode="mean",
                        per_sample_weights=torch.ones(1, dtype=torch.float64))


def test_text_classification_tutorial_steps_on_cuda_match_cpu():
    """TextClassificationModel (EmbeddingBag + Linear), collate_batch's offsets (cumsum), CrossEntropyLoss,
    clip_grad_norm_(0.1), SGD(lr=5) and StepLR: two steps on cpu and on cuda agree; the first loss is the
    NumPy value."""
    batch = [(1, [3, 1, 4, 1, 5]), (3, [9, 2, 6]), (2, [5, 3, 5, 8, 9, 7])]

    def run(device):
        torch.manual_seed(0)
        emb, fc = nn.EmbeddingBag(10, 4, sparse=False), nn.Linear(4, 3)
        emb.weight.data.uniform_(-0.5, 0.5)
        fc.weight.data.uniform_(-0.5, 0.5)
        fc.bias.data.zero_()
        emb, fc = emb.to(device), fc.to(device)
        w0 = emb.weight.detach().cpu().numpy().copy(), fc.weight.detach().cpu().numpy().copy()
        labels = torch.tensor([b[0] - 1 for b in batch], dtype=torch.int64).to(device)
        offsets = torch.tensor([0] + [len(b[1]) for b in batch][:-1]).cumsum(dim=0).to(device)
        text = torch.cat([torch.tensor(b[1], dtype=torch.int64) for b in batch]).to(device)
        params = list(emb.parameters()) + list(fc.parameters())
        opt = torch.optim.SGD(params, lr=5)
        sched = torch.optim.lr_scheduler.StepLR(opt, 1.0, gamma=0.1)
        losses = []
        for _ in range(2):
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(fc(emb(text, offsets)), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 0.1)
            opt.step()
            sched.step()
            losses.append(loss.item())
        return losses, w0, fc.weight.detach().cpu().numpy()

    (lc, w0, fcc), (lg, _, fcg) = run("cpu"), run("cuda")
    np.testing.assert_allclose(lg, lc, rtol=1e-5)
    np.testing.assert_allclose(fcg, fcc, rtol=1e-5, atol=1e-6)
    e, fw = w0
    logits = np.stack([e[b[1]].mean(0) for b in batch]) @ fw.T
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert abs(lc[0] + np.mean([logp[i, b[0] - 1] for i, b in enumerate(batch)])) < 1e-5


# ---------------------------------------------- char_rnn_generation_tutorial.py: target_line_tensor.unsqueeze_(-1)
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_inplace_view_methods(device):
    t = torch.LongTensor([4, 7, 2]).to(device)
    assert t.unsqueeze_(-1) is t and t.shape == (3, 1) and t[1].tolist() == [7]
    assert t.squeeze_().shape == (3,) and t.tolist() == [4, 7, 2]
    m = torch.arange(6, device=device).reshape(2, 3)
    m.t_()
    assert m.shape == (3, 2) and m.tolist() == [[0, 3], [1, 4], [2, 5]]
    m.transpose_(0, 1)
    assert m.tolist() == [[0, 1, 2], [3, 4, 5]]
    base = torch.zeros(2, 3, device=device)
    row = base[1]
    row.unsqueeze_(0)
    row[0, 2] = 5.0                                   # still a view of base after the in-place view op
    assert base.tolist() == [[0, 0, 0], [0, 0, 5.0]]


def test_inplace_view_under_autograd_and_the_tutorials_loss_accumulator():
    """char_rnn_generation_tutorial.py's train(): ``loss = torch.Tensor([0]); loss += l`` over NLLLoss terms,
    then backward; and unsqueeze_ on a non-leaf keeps the graph. Checked against NumPy's log-softmax."""
    w = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], requires_grad=True)
    targets = torch.LongTensor([2, 0])
    targets.unsqueeze_(-1)
    loss = torch.Tensor([0])
    for i in range(2):
        out = F.log_softmax(w[i:i + 1], dim=1)
        loss += nn.NLLLoss()(out, targets[i])
    loss.backward()
    wn = w.detach().numpy()
    logp = wn - np.log(np.exp(wn).sum(1, keepdims=True))
    np.testing.assert_allclose(loss.item(), -(logp[0, 2] + logp[1, 0]), rtol=1e-6)
    p = np.exp(logp)
    p[0, 2] -= 1
    p[1, 0] -= 1
    np.testing.assert_allclose(w.grad.numpy(), p, rtol=1e-5, atol=1e-7)
    x = w * 2
    x.unsqueeze_(0)
    assert x.shape == (1, 2, 3) and x.grad_fn is not None
    w.grad = None
    x.sum().backward()
    assert w.grad.tolist() == [[2.0] * 3] * 2
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.unsqueeze_(0)


# ------------------------------------------- dcgan_faces_tutorial.py: torch.use_deterministic_algorithms(True)
def test_use_deterministic_algorithms_alerts_on_cuda_float_atomics_only():
    assert not torch.are_deterministic_algorithms_enabled()
    w_cpu = torch.ones(4, 2, requires_grad=True)
    w_cuda = torch.ones(4, 2, device="cuda", requires_grad=True)
    idx = torch.tensor([0, 2, 2])
    try:
        torch.use_deterministic_algorithms(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        F.embedding(idx, w_cpu).sum().backward()              # cpu (NumPy) is deterministic
        assert w_cpu.grad[:, 0].tolist() == [1.0, 0.0, 2.0, 0.0]
        out = F.embedding(idx.to("cuda"), w_cuda).sum()          # the forward gathers: fine
        with pytest.raises(RuntimeError, match="index_add_cuda_ does not have a deterministic implementation"):
            out.backward()                                       # the backward accumulates with float atomics
        ints = torch.zeros(3, dtype=torch.int64, device="cuda").index_add(0, torch.tensor([1, 1], device="cuda"),
                                                                         torch.ones(2, dtype=torch.int64,
                                                                                    device="cuda"))
        assert ints.tolist() == [0, 2, 0]                        # integer sums are exact in any order
        torch.use_deterministic_algorithms(True, warn_only=True)
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        with pytest.warns(UserWarning, match="scatter_add_cuda_"):
            g = torch.zeros(2, 2, device="cuda").scatter_add(1, torch.tensor([[0, 0]], device="cuda"),
                                                            torch.ones(1, 2, device="cuda"))
        assert g.tolist() == [[2.0, 0.0], [0.0, 0.0]]
        with pytest.raises(TypeError, match="mode"):
            torch.use_deterministic_algorithms(1)
    finally:
        torch.use_deterministic_algorithms(False)
    assert not torch.are_deterministic_algorithms_enabled()


# ------------------------------------------------ nn_tutorial.py ("What is torch.nn really?"): range indices
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_nn_tutorial_nll_with_a_range_index(device):
    """``def nll(input, target): return -input[range(target.shape[0]), target].mean()`` on the tutorial's
    hand-written log_softmax, with its gradient; against NumPy."""
    rng = np.random.RandomState(0)
    x, w = rng.randn(4, 6).astype(np.float32), (rng.randn(6, 3) / math.sqrt(6)).astype(np.float32)
    target = np.array([2, 0, 1, 1])
    weights = torch.tensor(w, device=device).requires_grad_()
    xb = torch.tensor(x, device=device)
    out = xb @ weights
    logp = out - out.exp().sum(-1).log().unsqueeze(-1)
    loss = -logp[range(target.shape[0]), torch.tensor(target, device=device)].mean()
    loss.backward()
    z = x @ w
    lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    np.testing.assert_allclose(loss.item(), -lp[np.arange(4), target].mean(), rtol=1e-5)
    g = np.exp(lp)
    g[np.arange(4), target] -= 1
    np.testing.assert_allclose(weights.grad.cpu().numpy(), x.T @ g / 4, rtol=1e-4, atol=1e-6)
    m = torch.zeros(3, 3, device=device)
    m[range(3), range(3)] = 1.0
    assert m.tolist() == np.eye(3).tolist() and m[range(1, 3)].shape == (2, 3)


# ------------------------------------ karpathy/ng-video-lecture gpt.py: get_batch's data[i:i+block_size]
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_get_batch_slices_with_tensor_bounds(device):
    """``ix = torch.randint(len(data) - block_size, (batch_size,))`` then ``data[i:i+block_size] for i in ix``:
    the slice bounds are 0-d int64 tensors."""
    data = torch.arange(20, device=device) * 10
    torch.manual_seed(1337)
    ix = torch.randint(len(data) - 4, (3,))
    x = torch.stack([data[i:i + 4] for i in ix])
    y = torch.stack([data[i + 1:i + 4 + 1] for i in ix])
    starts = ix.tolist()
    assert x.tolist() == [[10 * (s + k) for k in range(4)] for s in starts]
    assert y.tolist() == [[10 * (s + 1 + k) for k in range(4)] for s in starts]
    z = torch.zeros(6, device=device)
    z[torch.tensor(1):torch.tensor(5):torch.tensor(2)] = 1.0
    assert z.tolist() == [0, 1, 0, 1, 0, 0]
    with pytest.raises(TypeError, match="integer tensors"):
        data[torch.tensor(1.5):]


# ----------------------------------------- blitz/neural_networks_tutorial.py: loss.grad_fn.next_functions
def test_grad_fn_next_functions_walks_the_graph():
    lin = nn.Linear(3, 2)
    x = torch.ones(4, 3)
    loss = nn.MSELoss()(F.relu(lin(x)), torch.zeros(4, 2))
    first = loss.grad_fn.next_functions[0][0]                  # the ReLU node
    assert first is not None and first.next_functions[0][0] is not None
    nodes, leaves, todo = 0, [], [loss.grad_fn]
    while todo:
        node = todo.pop()
        nodes += 1
        for nxt, idx in node.next_functions:
            if type(nxt).__name__ == "AccumulateGrad":
                leaves.append(nxt.variable)
            elif nxt is not None:
                todo.append(nxt)
    assert {id(v) for v in leaves} == {id(lin.weight), id(lin.bias)}
    assert nodes >= 3
    assert all(n is None for n, _ in (x * lin.weight[0]).grad_fn.next_functions[:1])   # x needs no grad


def test_custom_function_node_has_next_functions():
    """polynomial_custom_function.py's LegendrePolynomial3.apply(c + d * x): its node links back to c + d*x."""
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input ** 3

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 3 * input ** 2

    c = torch.tensor(2.0, requires_grad=True)
    y = Cube.apply(c * 1.5)
    (mul_node, _), = y.grad_fn.next_functions
    assert mul_node is not None and type(mul_node.next_functions[0][0]).__name__ == "AccumulateGrad"
    y.backward()
    assert abs(c.grad.item() - 3 * 3.0 ** 2 * 1.5) < 1e-5


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_of_no_entries_is_zeros_with_a_graph(mode):
    w = torch.ones(5, 2, requires_grad=True)
    out = F.embedding_bag(torch.tensor([], dtype=torch.int64), w, torch.tensor([0, 0]), mode=mode)
    assert out.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    out.sum().backward()
    assert w.grad.tolist() == [[0.0, 0.0]] * 5
