"""Public PyTorch programs, ported by changing only the imports, at tiny sizes.

Each test is a shortened port of a program that needed something tritongrad lacked (the program named in
the test's docstring; its data replaced by synthetic arrays of the same shapes and dtypes). The numbers are
checked against NumPy transcriptions of the same math written here, never against torch (CI has no torch).
"""
import math
import warnings

import numpy as np
import pytest

import tritongrad as torch
import tritongrad.nn as nn
import tritongrad.nn.functional as F
import tritongrad.nn.init as init
import tritongrad.optim as optim
from _user_helpers import _log_softmax, _lstm_layer, _lstm_params, _np, _np_grid_sample, _sigmoid


# ------------------------------------------------------------------------ pytorch/examples mnist_forward_forward
def test_mnist_forward_forward_layer_train_step():
    """pytorch/examples mnist_forward_forward/main.py: it probes ``torch.xpu.is_available()`` (was missing),
    subclasses nn.Linear with its own ``train(x_pos, x_neg)`` and an Adam inside; one step against NumPy."""
    assert torch.xpu.is_available() is False and torch.xpu.device_count() == 0
    assert torch.backends.mps.is_available() is False
    torch.manual_seed(1)

    class Layer(nn.Linear):
        def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
            super().__init__(in_features, out_features, bias, device, dtype)
            self.relu = torch.nn.ReLU()
            self.opt = optim.Adam(self.parameters(), lr=0.03)
            self.threshold = 2.0

        def forward(self, x):
            x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
            return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

        def train(self, x_pos, x_neg):
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            loss = torch.log1p(torch.exp(torch.cat([-g_pos + self.threshold, g_neg - self.threshold]))).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            return loss

    rng = np.random.default_rng(0)
    xp, xn = rng.standard_normal((6, 12)), rng.standard_normal((6, 12))
    layer = Layer(12, 5)
    w0, b0 = _np(layer.weight), _np(layer.bias)
    loss = layer.train(torch.tensor(xp, dtype=torch.float32), torch.tensor(xn, dtype=torch.float32))

    def fwd(x):
        xd = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-4)
        z = xd @ w0.T + b0
        return xd, z, np.maximum(z, 0)

    (xdp, zp, hp), (xdn, zn, hn) = fwd(xp), fwd(xn)
    s = np.concatenate([-(hp ** 2).mean(1) + 2.0, (hn ** 2).mean(1) - 2.0])
    np.testing.assert_allclose(loss.item(), np.log1p(np.exp(s)).mean(), rtol=1e-5)
    dl_ds = _sigmoid(s) / s.size                                  # d mean(log1p(exp(s))) / ds
    dz_p = -dl_ds[:6, None] * 2 * hp / 5 * (zp > 0)
    dz_n = dl_ds[6:, None] * 2 * hn / 5 * (zn > 0)
    gw, gb = dz_p.T @ xdp + dz_n.T @ xdn, dz_p.sum(0) + dz_n.sum(0)
    # Adam's first step: m_hat = g, v_hat = g**2, so p -= lr * g / (|g| + eps)
    np.testing.assert_allclose(_np(layer.weight), w0 - 0.03 * gw / (np.abs(gw) + 1e-8), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(layer.bias), b0 - 0.03 * gb / (np.abs(gb) + 1e-8), rtol=1e-5, atol=1e-6)


def test_range_as_index_like_the_nn_tutorial():
    """pytorch/tutorials beginner_source/nn_tutorial.py: ``-input[range(target.shape[0]), target].mean()``."""
    logp = _log_softmax(np.arange(12.0).reshape(3, 4) / 7)
    target = np.array([1, 0, 3])
    got = -torch.tensor(logp)[range(target.shape[0]), torch.tensor(target)].mean()
    np.testing.assert_allclose(got.item(), -logp[np.arange(3), target].mean())


# ------------------------------------------------------------------------ pytorch/examples word_language_model
class RNNModel(nn.Module):
    """word_language_model/model.py's RNNModel (encoder, LSTM, decoder, optional tied weights)."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def test_word_language_model_lstm_bptt_steps():
    """pytorch/examples word_language_model/main.py: ``import torch.onnx`` at the top (was an ImportError),
    a tied 2-layer LSTM, hidden states detached between batches, clip_grad_norm_, ``p.data.add_(p.grad,
    alpha=-lr)``; the loss of every batch against a NumPy LSTM run on the weights the model had then."""
    import tritongrad.onnx
    with pytest.raises(NotImplementedError, match="no ONNX exporter"):
        tritongrad.onnx.export(nn.Linear(1, 1), (torch.zeros(1, 1),), "m.onnx")
    torch.manual_seed(1111)
    model = RNNModel("LSTM", 11, 6, 6, 2, dropout=0.0, tie_weights=True)
    assert model.decoder.weight is model.encoder.weight
    criterion = nn.NLLLoss()
    data = torch.tensor(np.random.default_rng(0).integers(0, 11, (9, 3)))     # (seq, batch), batchified
    hidden = model.init_hidden(3)

    def repackage_hidden(h):
        return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)

    h_np = [np.zeros((3, 6)), np.zeros((3, 6))]
    c_np = [np.zeros((3, 6)), np.zeros((3, 6))]
    lr, bptt = 5.0, 4
    for i in range(0, data.size(0) - 1, bptt):
        seq_len = min(bptt, len(data) - 1 - i)
        x, targets = data[i:i + seq_len], data[i + 1:i + 1 + seq_len].view(-1)
        # NumPy reference on the current weights, carrying the hidden state across batches
        layer_in = _np(model.encoder.weight)[x.numpy()]
        for layer in range(2):
            layer_in, h_np[layer], c_np[layer] = _lstm_layer(layer_in, *_lstm_params(model.rnn, layer),
                                                           h_np[layer], c_np[layer])
        logits = layer_in.reshape(-1, 6) @ _np(model.decoder.weight).T + _np(model.decoder.bias)
        ref = -_log_softmax(logits)[np.arange(seq_len * 3), targets.numpy()].mean()

        hidden = repackage_hidden(hidden)
        model.zero_grad()
        output, hidden = model(x, hidden)
        loss = criterion(output, targets)
        loss.backward()
        np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)
        np.testing.assert_allclose(_np(hidden[1][1]), c_np[1], rtol=1e-4, atol=1e-6)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        assert math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters())) <= 0.25 + 1e-5
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
    model.rnn.flatten_parameters()          # main.py calls it after torch.load


class TransformerModel(nn.Transformer):
    """word_language_model/model.py's TransformerModel: an nn.Transformer subclass that uses only its encoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers,
                         num_decoder_layers=1)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)

    def forward(self, src):
        n = len(src)
        mask = (torch.triu(torch.ones(n, n)) == 1).transpose(0, 1)
        mask = mask.float().masked_fill(mask == 0, float('-inf')).masked_fill(mask == 1, float(0.0))
        output = self.encoder(self.input_emb(src) * math.sqrt(self.ninp), mask=mask)
        return F.log_softmax(self.decoder(output), dim=-1)


def test_word_language_model_transformer_is_causal():
    """The TransformerModel with its square subsequent mask: in eval mode, the prediction at position t must
    not change when tokens after t change, and each row is a log-distribution."""
    torch.manual_seed(0)
    model = TransformerModel(13, 8, 2, 16, 1).eval()
    src = np.random.default_rng(1).integers(0, 13, (5, 2))
    changed = src.copy()
    changed[3:] = (changed[3:] + 5) % 13
    with torch.no_grad():
        a, b = _np(model(torch.tensor(src))), _np(model(torch.tensor(changed)))
    np.testing.assert_allclose(np.exp(a).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a[:3], b[:3], rtol=1e-5, atol=1e-6)
    assert np.abs(a[3:] - b[3:]).max() > 1e-3


# ------------------------------------------------------------------------ pytorch/examples mnist_rnn
def test_mnist_rnn_dropout2d_on_2d_features():
    """pytorch/examples mnist_rnn/main.py applies nn.Dropout2d to (N, 64) LSTM features (it used to raise):
    PyTorch warns and drops single entries. The eval-mode forward against NumPy, then an Adadelta + StepLR
    training step that runs."""
    torch.manual_seed(1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(input_size=28, hidden_size=8, batch_first=True)
            self.batchnorm = nn.BatchNorm1d(8)
            self.dropout1 = nn.Dropout2d(0.25)
            self.fc1 = nn.Linear(8, 10)

        def forward(self, input):
            output, hidden = self.rnn(input.reshape(-1, 28, 28))
            output = self.dropout1(self.batchnorm(output[:, -1, :]))
            return F.log_softmax(self.fc1(output), dim=1)

    model = Net()
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (4, 1, 28, 28)) / 255.0 - 0.1307) / 0.3081
    target = np.array([3, 1, 4, 1])
    model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")                           # the 2-D warning; checked below
        out = model(torch.tensor(data, dtype=torch.float32))
    seq = data.reshape(4, 28, 28).transpose(1, 0, 2)
    _, h, _ = _lstm_layer(seq, *_lstm_params(model.rnn, 0), np.zeros((4, 8)), np.zeros((4, 8)))
    h = h / np.sqrt(1 + 1e-5)                                     # BatchNorm1d eval: running mean 0, var 1
    ref = _log_softmax(h @ _np(model.fc1.weight).T + _np(model.fc1.bias))
    np.testing.assert_allclose(_np(out), ref, rtol=1e-4, atol=1e-5)

    model.train()
    optimizer = optim.Adadelta(model.parameters(), lr=0.1)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        loss = F.nll_loss(model(torch.tensor(data, dtype=torch.float32)), torch.tensor(target))
    loss.backward()
    optimizer.step()
    scheduler.step()
    assert math.isfinite(loss.item()) and optimizer.param_groups[0]["lr"] == pytest.approx(0.07)


# ------------------------------------------------------------------------ nn.init names old programs use
def test_init_deprecated_names_dirac_and_sparse():
    """pytorch/examples super_resolution/model.py (older versions: ``init.orthogonal(w, gain)``) and
    siamese_network (``torch.nn.init.xavier_uniform(m.weight)``) call the un-underscored names, which PyTorch
    keeps with a FutureWarning; dirac_ and sparse_ against their definitions."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 9, (3, 3), (1, 1), (1, 1))
    with pytest.warns(FutureWarning, match="nn.init.orthogonal` is now deprecated"):
        init.orthogonal(conv.weight, init.calculate_gain('relu'))
    w = _np(conv.weight).reshape(9, 9)
    np.testing.assert_allclose(w @ w.T, 2.0 * np.eye(9), atol=1e-5)
    lin = nn.Linear(30, 20)
    with pytest.warns(FutureWarning):
        init.xavier_uniform(lin.weight)
    bound = math.sqrt(6.0 / 50)
    assert np.abs(_np(lin.weight)).max() <= bound and np.abs(_np(lin.weight)).max() > 0.8 * bound
    with pytest.warns(FutureWarning):
        assert init.eye(torch.empty(2, 3)).tolist() == [[1, 0, 0], [0, 1, 0]]

    w = init.dirac_(torch.empty(4, 2, 3, 3), groups=2)
    ref = np.zeros((4, 2, 3, 3))
    ref[[0, 1, 2, 3], [0, 1, 0, 1], 1, 1] = 1
    np.testing.assert_array_equal(_np(w), ref)
    x = np.random.default_rng(0).standard_normal((1, 3, 5, 5))
    ident = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    init.dirac_(ident.weight)
    np.testing.assert_allclose(_np(ident(torch.tensor(x, dtype=torch.float32))), x, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        init.dirac_(torch.empty(3, 3))

    s = _np(init.sparse_(torch.empty(10, 6), sparsity=0.3, std=0.5))
    assert ((s == 0).sum(0) >= 3).all() and ((s != 0).sum(0) >= 6).all()
    with pytest.raises(ValueError, match="2 dimensions"):
        init.sparse_(torch.empty(2, 2, 2), 0.1)


# ------------------------------------------------------------------------ char-RNN classification tutorial
def test_char_rnn_classification_with_default_device_cuda():
    """pytorch/tutorials intermediate_source/char_rnn_classification_tutorial.py starts with
    ``torch.set_default_device(device)`` (was missing) and then builds every tensor without ``device=``:
    here the device is cuda (Triton's interpreter on a CPU-only machine). Forward against a NumPy RNN,
    and a training step."""
    letters = "abcdefghijklmnopqrstuvwxyz_"
    torch.set_default_device("cuda")
    try:
        assert torch.get_default_device().type == "cuda"

        def lineToTensor(line):
            tensor = torch.zeros(len(line), 1, len(letters))
            for li, letter in enumerate(line):
                tensor[li][0][letters.find(letter)] = 1
            return tensor

        class CharRNN(nn.Module):
            def __init__(self, input_size, hidden_size, output_size):
                super().__init__()
                self.rnn = nn.RNN(input_size, hidden_size)
                self.h2o = nn.Linear(hidden_size, output_size)
                self.softmax = nn.LogSoftmax(dim=1)

            def forward(self, line_tensor):
                rnn_out, hidden = self.rnn(line_tensor)
                return self.softmax(self.h2o(hidden[0]))

        torch.manual_seed(0)
        rnn = CharRNN(len(letters), 6, 3)
        line = lineToTensor("abba")
        label = torch.tensor([2], dtype=torch.long)
        assert line.device.type == rnn.h2o.weight.device.type == label.device.type == "cuda"
        w_ih, w_hh, b_ih, b_hh = (_np(getattr(rnn.rnn, n + "_l0"))
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        w_o, b_o = _np(rnn.h2o.weight), _np(rnn.h2o.bias)
        output = rnn(line)
        loss = nn.NLLLoss()(output, label)
        loss.backward()
        nn.utils.clip_grad_norm_(rnn.parameters(), 3)
        grad = _np(rnn.h2o.bias.grad)
        torch.optim.SGD(rnn.parameters(), lr=0.15).step()
        assert torch.from_numpy(np.zeros(1)).device.type == "cpu"     # as in PyTorch
    finally:
        torch.set_default_device(None)
    assert torch.zeros(1).device.type == "cpu"

    h = np.zeros((1, 6))
    for xt in _np(line):
        h = np.tanh(xt @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
    ref = _log_softmax(h @ w_o.T + b_o)
    np.testing.assert_allclose(_np(output), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.item(), -ref[0, 2], rtol=1e-5)
    np.testing.assert_allclose(_np(rnn.h2o.bias), b_o - 0.15 * grad, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------ karpathy makemore lectures
def test_makemore_bigram_and_mlp_with_numpy_keywords():
    """karpathy's makemore lectures (nn-zero-to-hero, parts 1-3): ``P.sum(1, keepdims=True)`` (NumPy's
    keyword, which every PyTorch op takes; was a TypeError), a one-hot bigram net trained by hand, an MLP with
    hand-written BatchNorm, and ``loss.log10()`` (was missing); every number against NumPy."""
    words = ["emma", "olivia", "ava", "isabella", "sophia", "mia"]
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    V = len(stoi)
    N = torch.zeros((V, V), dtype=torch.int32)
    pairs = [(stoi[a], stoi[b]) for w in words for a, b in zip("." + w, w + ".")]
    for ix1, ix2 in pairs:
        N[ix1, ix2] += 1
    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)
    Nn = np.zeros((V, V))
    np.add.at(Nn, tuple(np.array(pairs).T), 1)
    Pn = (Nn + 1) / (Nn + 1).sum(1, keepdims=True)
    np.testing.assert_allclose(_np(P), Pn, rtol=1e-6)
    nll = -sum(torch.log(P[a, b]) for a, b in pairs) / len(pairs)
    np.testing.assert_allclose(nll.item(), -np.mean([np.log(Pn[a, b]) for a, b in pairs]), rtol=1e-6)
    assert torch.sum(P, axis=1).shape == (V,) and P.max(axis=0).values.shape == (V,)
    with pytest.raises(TypeError, match="alias 'keepdims'"):
        P.sum(1, keepdim=True, keepdims=True)

    xs, ys = torch.tensor([a for a, _ in pairs]), torch.tensor([b for _, b in pairs])
    Wn = np.random.default_rng(0).standard_normal((V, V))
    W = torch.tensor(Wn, dtype=torch.float32, requires_grad=True)
    for _ in range(2):
        xenc = F.one_hot(xs, num_classes=V).float()
        counts = (xenc @ W).exp()
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[torch.arange(xs.nelement()), ys].log().mean() + 0.01 * (W ** 2).mean()
        pn = np.exp(Wn[xs.numpy()])
        pn /= pn.sum(1, keepdims=True)
        np.testing.assert_allclose(loss.item(), -np.log(pn[np.arange(len(pairs)), ys.numpy()]).mean()
                                   + 0.01 * (Wn ** 2).mean(), rtol=1e-5)
        W.grad = None
        loss.backward()
        gn = pn.copy()
        gn[np.arange(len(pairs)), ys.numpy()] -= 1
        gn = np.eye(V)[xs.numpy()].T @ gn / len(pairs) + 0.02 * Wn / Wn.size
        np.testing.assert_allclose(_np(W.grad), gn, rtol=1e-4, atol=1e-6)
        W.data += -50 * W.grad
        Wn = Wn - 50 * gn

    # part 3: an MLP whose BatchNorm is written out (mean and unbiased std over the batch)
    rng = np.random.default_rng(1)
    Cn, W1n, W2n = rng.standard_normal((V, 2)), rng.standard_normal((6, 5)) * 0.3, rng.standard_normal((5, V)) * 0.1
    Xb = rng.integers(0, V, (8, 3))
    Yb = rng.integers(0, V, 8)
    C, W1, W2 = (torch.tensor(a, dtype=torch.float32) for a in (Cn, W1n, W2n))
    bngain, bnbias = torch.ones((1, 5)), torch.zeros((1, 5))
    emb = C[torch.tensor(Xb)]
    hpreact = emb.view(emb.shape[0], -1) @ W1
    hpreact = bngain * (hpreact - hpreact.mean(0, keepdim=True)) / hpreact.std(0, keepdim=True) + bnbias
    loss = F.cross_entropy(torch.tanh(hpreact) @ W2, torch.tensor(Yb))
    hn = Cn[Xb].reshape(8, -1) @ W1n
    hn = (hn - hn.mean(0)) / hn.std(0, ddof=1)
    ref = -_log_softmax(np.tanh(hn) @ W2n)[np.arange(8), Yb].mean()
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)
    np.testing.assert_allclose(loss.log10().item(), np.log10(ref), rtol=1e-6)


# ------------------------------------------------------------------------ karpathy/minGPT
def test_mingpt_trainer_sampler_and_sort_dataset():
    """karpathy/minGPT mingpt/trainer.py samples with ``RandomSampler(ds, replacement=True,
    num_samples=int(1e10))`` (tritongrad drew all 1e10 indices at once: 75 GB), and demo.ipynb's SortDataset
    calls ``inp.unique()`` (was missing). Batches stream; unique against np.unique on cpu and cuda."""
    from tritongrad.utils.data import DataLoader, Dataset, RandomSampler

    class SortDataset(Dataset):
        def __init__(self, length=6, num_digits=3):
            self.length, self.num_digits = length, num_digits

        def __len__(self):
            return 10000

        def __getitem__(self, idx):
            while True:
                inp = torch.randint(self.num_digits, size=(self.length,), dtype=torch.long)
                if torch.rand(1).item() < 0.5 and inp.unique().nelement() > self.length // 2:
                    continue
                break
            cat = torch.cat((inp, torch.sort(inp)[0]), dim=0)
            x, y = cat[:-1].clone(), cat[1:].clone()
            y[:self.length - 1] = -1
            return x, y

    torch.manual_seed(0)
    ds = SortDataset()
    sampler = RandomSampler(ds, replacement=True, num_samples=int(1e10))
    loader = DataLoader(ds, sampler=sampler, shuffle=False, pin_memory=True, batch_size=4, num_workers=0)
    assert len(loader) == int(1e10) // 4
    it = iter(loader)
    for _ in range(3):
        x, y = next(it)
        assert tuple(x.shape) == (4, 11) and (y[:, :5] == -1).all().item()
        np.testing.assert_array_equal(y.numpy()[:, 5:], np.sort(x.numpy()[:, :6], 1))
    lazily = list(RandomSampler(ds, replacement=True, num_samples=70, generator=torch.Generator().manual_seed(3)))
    at_once = torch.randint(0, 10000, (70,), generator=torch.Generator().manual_seed(3)).tolist()
    assert lazily == at_once                                      # the same stream, drawn 32 at a time

    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, (5, 7))
    for device in ("cpu", "cuda"):
        t = torch.tensor(a, device=device)
        out, inverse, counts = torch.unique(t, return_inverse=True, return_counts=True)
        ref, ref_inv, ref_counts = np.unique(a, return_inverse=True, return_counts=True)
        np.testing.assert_array_equal(out.cpu().numpy(), ref)
        np.testing.assert_array_equal(inverse.cpu().numpy(), ref_inv.reshape(a.shape))
        np.testing.assert_array_equal(counts.cpu().numpy(), ref_counts)
        assert t.float().unique().dtype == torch.float32 and t.unique().device.type == device
        assert torch.tensor([True, False, True], device=device).unique().tolist() == [False, True]
    with pytest.raises(NotImplementedError, match="dim"):
        torch.tensor(a).unique(dim=0)


# ------------------------------------------------------------------------ pytorch/examples gat, activations
def test_gat_layer_forward_against_numpy():
    """pytorch/examples gat/main.py's GraphAttentionLayer + GAT (F.elu was missing; ``.mT``, 3-D xavier_normal_,
    ``torch.where`` against a -9e16 mask, head concat) on a dense random graph, the log-probabilities against
    NumPy, then one Adam step with weight decay on an index-masked NLL."""
    torch.manual_seed(13)

    class GraphAttentionLayer(nn.Module):
        def __init__(self, in_features, out_features, n_heads, concat=False, leaky_relu_slope=0.2):
            super().__init__()
            self.n_heads, self.concat = n_heads, concat
            self.n_hidden = out_features // n_heads if concat else out_features
            self.out_features = out_features
            self.W = nn.Parameter(torch.empty(size=(in_features, self.n_hidden * n_heads)))
            self.a = nn.Parameter(torch.empty(size=(n_heads, 2 * self.n_hidden, 1)))
            self.leakyrelu = nn.LeakyReLU(leaky_relu_slope)
            nn.init.xavier_normal_(self.W)
            nn.init.xavier_normal_(self.a)

        def forward(self, h, adj_mat):
            n = h.shape[0]
            ht = torch.mm(h, self.W).view(n, self.n_heads, self.n_hidden).permute(1, 0, 2)
            e = self.leakyrelu(torch.matmul(ht, self.a[:, :self.n_hidden, :])
                               + torch.matmul(ht, self.a[:, self.n_hidden:, :]).mT)
            e = torch.where(adj_mat > 0, e, -9e16 * torch.ones_like(e))
            h_prime = torch.matmul(F.softmax(e, dim=-1), ht)
            if self.concat:
                return h_prime.permute(1, 0, 2).contiguous().view(n, self.out_features)
            return h_prime.mean(dim=0)

    rng = np.random.default_rng(0)
    V = 9
    xn = (rng.random((V, 6)) < 0.4).astype(np.float64)
    adjn = np.eye(V) + (rng.random((V, V)) < 0.3)
    g1, g2 = GraphAttentionLayer(6, 4, 2, concat=True), GraphAttentionLayer(4, 3, 1)
    x, adj = torch.tensor(xn, dtype=torch.float32), torch.tensor(adjn, dtype=torch.float32)
    out = F.log_softmax(g2(F.elu(g1(x, adj)), adj), dim=1)

    def layer_np(h, lay, concat):
        W, a = _np(lay.W), _np(lay.a)
        ht = (h @ W).reshape(V, lay.n_heads, lay.n_hidden).transpose(1, 0, 2)
        e = ht @ a[:, :lay.n_hidden] + (ht @ a[:, lay.n_hidden:]).transpose(0, 2, 1)
        e = np.where(e > 0, e, 0.2 * e)
        e = np.where(adjn > 0, e, -9e16)
        att = np.exp(_log_softmax(e))
        hp = att @ ht
        return hp.transpose(1, 0, 2).reshape(V, -1) if concat else hp.mean(0)

    h1 = layer_np(xn, g1, True)
    ref = _log_softmax(layer_np(np.where(h1 > 0, h1, np.expm1(np.minimum(h1, 0))), g2, False))
    np.testing.assert_allclose(_np(out), ref, rtol=1e-5, atol=1e-6)
    idx = torch.tensor(rng.permutation(V)[:5])
    target = torch.tensor(rng.integers(0, 3, V))
    opt = optim.Adam(list(g1.parameters()) + list(g2.parameters()), lr=0.005, weight_decay=5e-4)
    loss = nn.NLLLoss()(out[idx], target[idx])
    np.testing.assert_allclose(loss.item(), -ref[idx.numpy(), target.numpy()[idx.numpy()]].mean(), rtol=1e-5)
    loss.backward()
    opt.step()


# ------------------------------------------------------------------------ char_rnn_generation tutorial
def test_char_rnn_generation_unsqueeze_inplace_and_views():
    """pytorch/tutorials intermediate_source/char_rnn_generation_tutorial.py starts train() with
    ``target_line_tensor.unsqueeze_(-1)`` (in-place view ops were missing) and sums per-step NLL losses into
    ``torch.Tensor([0])``; the loss against NumPy, then unsqueeze_/t_/transpose_/squeeze_ on views under autograd."""
    torch.manual_seed(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    n_letters = len(letters) + 1
    i2h, i2o, o2o = nn.Linear(2 + n_letters + 5, 5), nn.Linear(2 + n_letters + 5, n_letters), nn.Linear(5 + n_letters,
                                                                                                      n_letters)
    line = "abba"
    category = torch.zeros(1, 2)
    category[0][1] = 1
    inp = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        inp[li][0][letters.find(letter)] = 1
    target = torch.LongTensor([letters.find(c) for c in line[1:]] + [n_letters - 1])
    assert target.unsqueeze_(-1) is target and tuple(target.shape) == (4, 1)
    hidden = torch.zeros(1, 5)
    loss = torch.Tensor([0])
    for i in range(inp.size(0)):
        combined = torch.cat((category, inp[i], hidden), 1)
        hidden, output = i2h(combined), i2o(combined)
        output = F.log_softmax(o2o(torch.cat((hidden, output), 1)), dim=1)
        loss += nn.NLLLoss()(output, target[i])
    h, ref = np.zeros((1, 5)), 0.0
    W = {k: (_np(m.weight), _np(m.bias)) for k, m in (("i2h", i2h), ("i2o", i2o), ("o2o", o2o))}
    for i in range(4):
        comb = np.concatenate([[[0.0, 1.0]], _np(inp[i]), h], 1)
        h, o = comb @ W["i2h"][0].T + W["i2h"][1], comb @ W["i2o"][0].T + W["i2o"][1]
        ref -= _log_softmax(np.concatenate([h, o], 1) @ W["o2o"][0].T + W["o2o"][1])[0, target[i, 0].item()]
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)

    w = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    h = w * 1
    v = h[0]
    v.unsqueeze_(0)
    v.mul_(2)
    v.t_()
    v.add_(1)
    assert tuple(v.shape) == (3, 1)
    c = np.array([[1.0, 10.0, 100.0], [1000.0, 1.0, 1.0]])
    (h * torch.tensor(c)).sum().backward()
    np.testing.assert_array_equal(_np(h), [[3.0, 5.0, 7.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(_np(w.grad), c * [[2.0], [1.0]])
    x = torch.zeros(1, 2, 3)
    assert tuple(x.squeeze_(0).transpose_(0, 1).shape) == (3, 2) and tuple(x.swapdims_(0, 1).shape) == (2, 3)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        torch.ones(2, requires_grad=True).unsqueeze_(0)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        torch.zeros(1, 1, 1).t_()


# ------------------------------------------------------------------------ 60-minute blitz
def test_blitz_next_functions_walk():
    """pytorch/tutorials beginner_source/blitz/neural_networks_tutorial.py walks
    ``loss.grad_fn.next_functions[0][0]`` back through the graph (was missing): MSE -> Linear's add -> ...,
    leaves appear as AccumulateGrad nodes holding the parameter, inputs without grad as (None, 0)."""
    torch.manual_seed(0)
    fc = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    loss = nn.MSELoss()(F.relu(fc(x)), torch.zeros(4, 2))
    node, seen, leaves = loss.grad_fn, [], []
    stack = [node]
    while stack:
        n = stack.pop()
        seen.append(n)
        for nxt, idx in n.next_functions:
            assert isinstance(idx, int)
            if nxt is None:
                continue
            if type(nxt).__name__ == "AccumulateGrad":
                leaves.append(nxt.variable)
                assert nxt.next_functions == ()
            else:
                stack.append(nxt)
    assert {id(v) for v in leaves} == {id(fc.weight), id(fc.bias)}
    assert len(seen) >= 3 and all(isinstance(n.next_functions, tuple) for n in seen)
    prod = torch.ones(2, requires_grad=True) * torch.ones(2)
    assert prod.grad_fn.next_functions[1] == (None, 0)


# ------------------------------------------------------------------------ spatial transformer tutorial
def test_spatial_transformer_affine_grid_grid_sample():
    """pytorch/tutorials intermediate_source/spatial_transformer_tutorial.py: ``F.affine_grid(theta, x.size())``
    then ``F.grid_sample(x, grid)`` (both were missing; defaults warn as PyTorch's). The identity transform
    reproduces the image; a random affine map against NumPy's bilinear sampler; the gradient in the image by
    linearity, in theta by finite differences (gradcheck)."""
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((2, 3, 5, 4))
    x = torch.tensor(xn, requires_grad=True)
    ident = torch.tensor(np.tile([[1.0, 0, 0], [0, 1.0, 0]], (2, 1, 1)))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        grid = F.affine_grid(ident, x.size())
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        same = F.grid_sample(x, grid)
    np.testing.assert_allclose(_np(same), xn, atol=1e-12)
    thetan = rng.standard_normal((2, 2, 3)) * 0.5 + [[1, 0, 0], [0, 1, 0]]
    theta = torch.tensor(thetan, requires_grad=True)
    for ac in (False, True):
        for border in (False, True):
            grid = F.affine_grid(theta, (2, 3, 6, 7), align_corners=ac)
            out = F.grid_sample(x, grid, padding_mode="border" if border else "zeros", align_corners=ac)
            np.testing.assert_allclose(_np(out), _np_grid_sample(xn, _np(grid), "bilinear", "border" if border else "zeros", ac), rtol=1e-10,
                                       atol=1e-12)
            wn = rng.standard_normal(out.shape)
            (gx,) = torch.autograd.grad((out * torch.tensor(wn)).sum(), x)
            np.testing.assert_allclose((xn * _np(gx)).sum(), (_np(out) * wn).sum(), rtol=1e-10)
    near = F.grid_sample(x, F.affine_grid(ident, (2, 3, 5, 4), align_corners=False), mode="nearest",
                         align_corners=False)
    np.testing.assert_allclose(_np(near), xn)
    assert torch.autograd.gradcheck(
        lambda t: F.grid_sample(x.detach(), F.affine_grid(t, (2, 3, 4, 3), align_corners=False),
                                align_corners=False), (theta,))
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.grid_sample(x, grid, mode="bicubic", align_corners=False)


# ------------------------------------------------------------------------ diffusion schedules
def test_annotated_diffusion_schedules_and_q_sample():
    """The diffusion-model schedules of huggingface's "Annotated Diffusion Model" (a PyTorch DDPM walk-through):
    ``torch.cumprod(alphas, axis=0)`` (cumprod was missing; ``axis=`` is NumPy's keyword), ``torch.pi`` (was
    missing), ``F.pad(..., value=1.0)``, ``a.gather(-1, t)`` and q_sample; against NumPy in float64."""
    def cosine_beta_schedule(timesteps, s=0.008):
        steps = timesteps + 1
        x = torch.linspace(0, timesteps, steps, dtype=torch.float64)
        alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * torch.pi * 0.5) ** 2
        alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
        betas = 1 - (alphas_cumprod[1:] / alphas_cumprod[:-1])
        return torch.clip(betas, 0.0001, 0.9999)

    T = 50
    betas = cosine_beta_schedule(T)
    alphas = 1. - betas
    alphas_cumprod = torch.cumprod(alphas, axis=0)
    alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
    posterior_variance = betas * (1. - alphas_cumprod_prev) / (1. - alphas_cumprod)

    xs = np.linspace(0, T, T + 1)
    ac = np.cos((xs / T + 0.008) / 1.008 * np.pi / 2) ** 2
    ac = ac / ac[0]
    bn = np.clip(1 - ac[1:] / ac[:-1], 1e-4, 0.9999)
    acn = np.cumprod(1 - bn)
    np.testing.assert_allclose(_np(betas), bn, rtol=1e-12)
    np.testing.assert_allclose(_np(alphas_cumprod), acn, rtol=1e-12)
    np.testing.assert_allclose(_np(posterior_variance),
                               bn * (1 - np.concatenate([[1.0], acn[:-1]])) / (1 - acn), rtol=1e-10)

    def extract(a, t, x_shape):
        batch_size = t.shape[0]
        out = a.gather(-1, t.cpu())
        return out.reshape(batch_size, *((1,) * (len(x_shape) - 1))).to(t.device)

    rng = np.random.default_rng(0)
    x0, noise = rng.standard_normal((3, 1, 4, 4)), rng.standard_normal((3, 1, 4, 4))
    t = torch.tensor([0, 17, 49])
    xt = (extract(torch.sqrt(alphas_cumprod), t, x0.shape) * torch.tensor(x0)
          + extract(torch.sqrt(1. - alphas_cumprod), t, x0.shape) * torch.tensor(noise))
    ref = np.sqrt(acn[[0, 17, 49]])[:, None, None, None] * x0 + np.sqrt(1 - acn[[0, 17, 49]])[:, None, None, None] * noise
    np.testing.assert_allclose(_np(xt), ref, rtol=1e-12)

    x = torch.tensor([[2.0, 0.0, -3.0, 4.0], [1.0, 2.0, 3.0, 0.5]], dtype=torch.float64, requires_grad=True)
    y = x.cumprod(1)
    np.testing.assert_allclose(_np(y), np.cumprod(_np(x), 1))
    assert torch.autograd.gradcheck(lambda a: a.cumprod(dim=1), (x,))
    assert torch.tensor([1, 2, 3]).cumprod(0).tolist() == [1, 2, 6] and torch.tensor([True, False]).cumprod(0).dtype == torch.int64
    assert (torch.pi, torch.e, torch.inf) == (math.pi, math.e, math.inf) and math.isnan(torch.nan)


# ------------------------------------------------------------------------ pytorch/examples vision_transformer
def test_vision_transformer_patches_with_tensor_unfold():
    """pytorch/examples vision_transformer/main.py: ``from torch.hub import tqdm`` (was missing) and the
    PatchExtractor's ``x.unfold(2, p, p).unfold(3, p, p)`` (Tensor.unfold was missing): windows against NumPy's
    sliding_window_view, the gradient by linearity, and the patches against a direct reshape."""
    from tritongrad.hub import tqdm
    assert list(tqdm([1, 2], disable=True)) == [1, 2]
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((2, 3, 8, 6))
    x = torch.tensor(xn, requires_grad=True)
    u = x.unfold(2, 4, 2)
    np.testing.assert_array_equal(_np(u), np.lib.stride_tricks.sliding_window_view(xn, 4, axis=2)[:, :, ::2])
    wn = rng.standard_normal(u.shape)
    (g,) = torch.autograd.grad((u * torch.tensor(wn)).sum(), x)
    np.testing.assert_allclose((xn * _np(g)).sum(), (_np(u) * wn).sum(), rtol=1e-12)
    p = 2
    patches = x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).contiguous().view(2, 12, -1)
    ref = xn.reshape(2, 3, 4, p, 3, p).transpose(0, 2, 4, 1, 3, 5).reshape(2, 12, -1)
    np.testing.assert_array_equal(_np(patches), ref)
    assert torch.arange(7.0).unfold(0, 2, 3).tolist() == [[0.0, 1.0], [3.0, 4.0]]
    with pytest.raises(RuntimeError, match="maximum size"):
        x.unfold(3, 7, 1)
    with pytest.raises(RuntimeError, match="step"):
        x.unfold(3, 2, 0)
