"""Training checkpoints: state round trips, errors, and resuming on the same trajectory."""
import json
import os

import numpy as np
import pytest
from _trees import assert_tree_equal

import tritongrad
from tritongrad import serialization as ser
from tritongrad.utils.checkpoint import METADATA_KEY, load_checkpoint, save_checkpoint


class StateHolder:
    """The state_dict protocol of a model, optimizer or scheduler, holding a given dict."""

    def __init__(self, state=None, params=()):
        self.state = state
        self.params = list(params)

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.state = state

    def parameters(self):
        return iter(self.params)


def t(values, dtype=np.float32):
    return tritongrad.from_numpy(np.asarray(values, dtype))


def test_state_round_trip(tmp_path):
    model = StateHolder({"0.weight": t([[1, 2], [3, 4]]), "0.bias": t([5, 6]), "steps": t(7, np.int64)})
    opt_state = {
        "state": {0: {"step": t(3.0), "exp_avg": t([[0.1, 0.2], [0.3, 0.4]]), "count": 3},
                  1: {"step": t(3.0), "exp_avg": t([0.5, 0.6]), "count": 3}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                          "amsgrad": False, "maximize": False, "params": [0, 1], "foreach": None}],
    }
    sched_state = {"last_epoch": 4, "base_lrs": [1e-3], "_last_lr": [5e-4], "gamma": 0.5, "best": float("inf"),
                   "milestones": {2: 1, 5: 2}, "lr_lambdas": [None]}
    tritongrad.manual_seed(1234)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=model, optimizer=StateHolder(opt_state), scheduler=StateHolder(sched_state),
                    step=42, losses=[1.5, 0.25], ema=t([9.0, 8.0]), note="warmup done", nested={"a": (1, "b")})
    expected_rng = tritongrad.random.default_generator("cpu").get_state().numpy().copy()
    tritongrad.manual_seed(0)

    model2, opt2, sched2 = StateHolder(params=[t([0.0])]), StateHolder(), StateHolder()
    extras = load_checkpoint(path, model=model2, optimizer=opt2, scheduler=sched2)
    assert_tree_equal(model2.state, model.state)
    assert_tree_equal(opt2.state, opt_state)
    assert_tree_equal(sched2.state, sched_state)
    assert extras["step"] == 42 and extras["losses"] == [1.5, 0.25] and extras["note"] == "warmup done"
    assert extras["nested"] == {"a": (1, "b")}
    assert_tree_equal(extras["ema"], t([9.0, 8.0]))
    np.testing.assert_array_equal(tritongrad.random.default_generator("cpu").get_state().numpy(), expected_rng)

    # any safetensors reader sees the model's tensors under plain names and the rest as JSON metadata
    plain = ser.load_file(path)
    np.testing.assert_array_equal(plain["model.0.weight"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(plain["optimizer.state.0.exp_avg"], np.float32([[0.1, 0.2], [0.3, 0.4]]))
    with ser.safe_open(path) as f:
        doc = json.loads(f.metadata()[METADATA_KEY])
    assert doc["step"] == 42 and doc["optimizer"]["param_groups"][0]["lr"] == 1e-3


def test_load_onto_other_device(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=StateHolder({"w": t([1.0, 2.0])}), step=1)
    model = StateHolder()
    load_checkpoint(path, model=model, map_location="cuda")
    assert model.state["w"].device.type == "cuda"
    np.testing.assert_array_equal(model.state["w"].cpu().numpy(), [1.0, 2.0])


def test_unsavable_value_names_its_path_and_keeps_old_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, step=1)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"scheduler\['lr_lambdas'\]\[0\]: cannot save a function"):
        save_checkpoint(path, scheduler=StateHolder({"lr_lambdas": [lambda e: 1.0]}), step=2)
    with pytest.raises(TypeError, match=r"extra\['cfg'\]\['x'\]: cannot save a value of type object"):
        save_checkpoint(path, step=2, cfg={"x": object()})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_missing_parts_and_foreign_files(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, step=3)
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(path, optimizer=StateHolder())
    with pytest.raises(ValueError, match="no model state"):
        load_checkpoint(path, model=StateHolder({"w": t([1.0])}))
    ser.save_file({"w": np.zeros(2, np.float32)}, tmp_path / "plain.safetensors")
    with pytest.raises(ser.SafetensorsError, match="not a tritongrad checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")
    ser.save_file({}, tmp_path / "bad.safetensors", metadata={METADATA_KEY: "{oops"})
    with pytest.raises(ser.SafetensorsError, match="not valid JSON"):
        load_checkpoint(tmp_path / "bad.safetensors")
    assert load_checkpoint(path) == {"step": 3}


# ------------------------------------------------------------------------------------------ resume

class TinyMLP:
    """A two-layer perceptron on raw tensors with the Module state_dict protocol (no tritongrad.nn needed)."""

    NAMES = ("w1", "b1", "w2", "b2")

    def __init__(self, device):
        shapes = {"w1": (5, 7), "b1": (7,), "w2": (7, 3), "b2": (3,)}
        for name in self.NAMES:
            setattr(self, name, (0.5 * tritongrad.randn(*shapes[name])).to(device).requires_grad_())

    def parameters(self):
        return [getattr(self, n) for n in self.NAMES]

    def state_dict(self):
        return {n: getattr(self, n).detach() for n in self.NAMES}

    def load_state_dict(self, state):
        with tritongrad.no_grad():
            for n in self.NAMES:
                getattr(self, n).copy_(state[n])

    def __call__(self, x):
        return (x @ self.w1 + self.b1).tanh() @ self.w2 + self.b2


def _training(device, seed=0):
    from tritongrad import optim
    tritongrad.manual_seed(seed)
    model = TinyMLP(device)
    opt = optim.AdamW(model.parameters(), lr=0.05, betas=(0.8, 0.95), weight_decay=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def _step(model, opt, sched, i, device):
    rng = np.random.default_rng(i)
    x = tritongrad.from_numpy(rng.standard_normal((4, 5)).astype(np.float32)).to(device)
    y = tritongrad.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)).to(device)
    x = x + 0.1 * tritongrad.randn(4, 5, device=device)  # the RNG state is part of the trajectory
    loss = ((model(x) - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_resume_gives_same_trajectory(tmp_path, device):
    model, opt, sched = _training(device)
    straight = [_step(model, opt, sched, i, device) for i in range(6)]
    final = {k: v.cpu().numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched = _training(device)
    first = [_step(model, opt, sched, i, device) for i in range(3)]
    save_checkpoint(tmp_path / "ckpt.safetensors", model=model, optimizer=opt, scheduler=sched, step=3,
                    losses=first)
    del model, opt, sched

    model, opt, sched = _training(device, seed=99)  # different init and RNG: everything must come from the file
    extras = load_checkpoint(tmp_path / "ckpt.safetensors", model=model, optimizer=opt, scheduler=sched)
    assert extras == {"step": 3, "losses": first}
    rest = [_step(model, opt, sched, i, device) for i in range(extras["step"], 6)]
    assert first + rest == straight
    for k, v in model.state_dict().items():
        assert v.cpu().numpy().tobytes() == final[k].tobytes(), k
