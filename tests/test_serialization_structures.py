"""`tritongrad.save`/`load` as ``torch.save``/``torch.load``: whole training states (nested dicts, lists and
tuples of tensors and scalars) in one safetensors file, file objects, torch.load's keywords, and clear errors
for what is not saved (Modules, functions, sets) or not loaded (PyTorch pickles)."""
import io
import json
import pathlib

import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy as st_np

from _trees import assert_tree_equal

import tritongrad
from tritongrad import nn, optim
from tritongrad import serialization as ser

STRUCTURE_KEY = "tritongrad.structure"
DTYPES = [np.float64, np.float32, np.float16, ml_dtypes.bfloat16, np.int64, np.int32, np.int16, np.int8,
          np.uint8, np.bool_]


def t(values, dtype=np.float32, device="cpu"):
    return tritongrad.from_numpy(np.asarray(values, dtype)).to(device)


def round_trip(obj, **load_kwargs):
    buf = io.BytesIO()
    tritongrad.save(obj, buf)
    buf.seek(0)
    return tritongrad.load(buf, **load_kwargs)


def adam_state():
    """A real optimizer state_dict: int keys in 'state', tuples (betas), None, bools, floats."""
    tritongrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    model(tritongrad.randn(5, 3)).pow(2).mean().backward()
    opt.step()
    return model, opt


# ------------------------------------------------------------------------------------------ structures

def test_flat_dict_of_tensors_is_written_as_before():
    """A flat str -> tensor dict is a plain safetensors file, byte-identical to the package's."""
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64)}
    buf = io.BytesIO()
    tritongrad.save({k: tritongrad.from_numpy(v) for k, v in arrays.items()}, buf)
    assert buf.getvalue() == st_np.save(arrays)
    got = tritongrad.load(io.BytesIO(st_np.save(arrays)))
    assert list(got) == ["b", "w"]   # file order: by dtype (int64 first), then name
    assert_tree_equal(got, {"b": arrays["b"], "w": arrays["w"]})


def test_optimizer_state_dict_round_trips_exactly():
    _, opt = adam_state()
    state = opt.state_dict()
    assert isinstance(state["param_groups"][0]["betas"], tuple) and 0 in state["state"]
    got = round_trip(state)
    assert_tree_equal(got, state)
    assert all(type(k) is int for k in got["state"])


def test_training_state_round_trips_exactly():
    model, opt = adam_state()
    obj = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
        "config": {"lr": 1e-3, "name": "run é", "layers": [4, 2], "sizes": (3, (4, 2)), "flag": True,
                   "none": None, "big": 2 ** 70, "nan": float("nan"), "inf": -float("inf"), "zero": -0.0},
        "keys": {1: "int", 2.5: "float", False: "bool", None: "none", (1, "a"): "tuple", "1": "str"},
        "tagged": {"__tensor__": "not a tensor", "__tuple__": [1], "__dict__": 0},
        "empty": [{}, [], ()],
        "nested": [t([1.0, 2.0]), (t([[3]], np.int32), [t(True, np.bool_)])],
        "np_scalars": [np.float32(0.5), np.int64(7), np.bool_(True)],
    }
    got = round_trip(obj)
    want = dict(obj, np_scalars=[0.5, 7, True])  # NumPy scalars come back as Python numbers
    assert_tree_equal(got, want)


def test_single_tensor_and_numpy_array():
    x = t([[1.5, -2.0], [3.0, 4.0]])
    assert_tree_equal(round_trip(x), x)
    a = np.arange(12, dtype=np.int16).reshape(3, 4)[:, ::2]
    got = round_trip(a)   # stored as a tensor; loads as a Tensor (torch.load would return an ndarray)
    assert isinstance(got, tritongrad.Tensor) and got.dtype is tritongrad.int16
    np.testing.assert_array_equal(got.numpy(), a)
    assert_tree_equal(round_trip(t(7, np.int64)), t(7, np.int64))


@pytest.mark.parametrize("dtype", DTYPES, ids=[np.dtype(d).name for d in DTYPES])
def test_every_dtype_and_non_contiguous_views_in_a_structure(dtype):
    base = tritongrad.from_numpy((np.arange(35) % 7 - 3).astype(dtype).reshape(5, 7))
    obj = {"views": [base, base.t(), base[1:4, ::3], base.flip(0)], "empty": (base[:0],), "step": 1}
    got = round_trip(obj)
    assert_tree_equal(got, obj)
    assert got["views"][1].is_contiguous()


def test_same_tensor_twice_is_stored_once_and_loads_as_one_object():
    x = t([1.0, 2.0, 3.0])
    obj = {"a": x, "b": [x, t([1.0, 2.0, 3.0])], "c": (x,)}
    buf = io.BytesIO()
    tritongrad.save(obj, buf)
    assert sorted(st_np.load(buf.getvalue())) == ["a", "b.1"]
    got = tritongrad.load(io.BytesIO(buf.getvalue()))
    assert got["a"] is got["b"][0] is got["c"][0]
    assert got["b"][1] is not got["a"]
    assert_tree_equal(got, obj)


def test_reference_safetensors_reads_a_nested_save(tmp_path):
    model, opt = adam_state()
    path = tmp_path / "ckpt.safetensors"
    tritongrad.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 2}, path,
                    metadata={"note": "hi"})
    theirs = st_np.load_file(str(path))
    want = {f"model.{k}": v for k, v in model.state_dict().items()}
    want.update({f"optim.state.{i}.{k}": v for i, s in opt.state_dict()["state"].items() for k, v in s.items()})
    assert set(theirs) == set(want)
    for k, v in want.items():
        np.testing.assert_array_equal(theirs[k], v.numpy())
    with safetensors.safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["note"] == "hi" and json.loads(meta[STRUCTURE_KEY])["object"]["epoch"] == 2
    assert tritongrad.load(path)["epoch"] == 2


# ------------------------------------------------------------------------------------------ files

def test_file_objects_and_path_like(tmp_path):
    obj = {"w": t([1.0, 2.0]), "step": 5}
    with open(tmp_path / "a.st", "wb") as f:
        tritongrad.save(obj, f)
    with open(tmp_path / "a.st", "rb") as f:
        assert_tree_equal(tritongrad.load(f), obj)
    tritongrad.save(obj, str(tmp_path / "b.st"))
    assert (tmp_path / "b.st").read_bytes() == (tmp_path / "a.st").read_bytes()
    assert_tree_equal(tritongrad.load(pathlib.Path(tmp_path / "b.st")), obj)
    buf = io.BytesIO(b"prefix")   # written and read from the current position
    buf.seek(6)
    tritongrad.save(obj, buf)
    buf.seek(6)
    assert_tree_equal(tritongrad.load(buf), obj)
    assert buf.getvalue()[:6] == b"prefix"
    arrays = {"a": np.arange(3, dtype=np.int8)}  # the NumPy layer too
    buf = io.BytesIO()
    ser.save_file(arrays, buf)
    assert buf.getvalue() == st_np.save(arrays)
    np.testing.assert_array_equal(ser.load_file(io.BytesIO(buf.getvalue()))["a"], arrays["a"])


def test_bad_file_arguments(tmp_path):
    with open(tmp_path / "t.txt", "w") as f, pytest.raises(TypeError, match="binary mode"):
        tritongrad.save({"w": t([1.0])}, f)
    with pytest.raises(TypeError, match="path .* or a binary file object"):
        tritongrad.save({"w": t([1.0])}, 3)
    tritongrad.save({"w": t([1.0])}, tmp_path / "x.st")
    with open(tmp_path / "x.st", "rb") as f, pytest.raises(ValueError, match="must be a file path .*mmap"):
        tritongrad.load(f, mmap=True)
    with open(tmp_path / "x.st", "rb") as f, pytest.raises(ValueError, match="mmap=True needs a file path"):
        ser.load_file(f, mmap=True)
    assert tritongrad.load(tmp_path / "x.st", mmap=True)["w"].tolist() == [1.0]


def test_pytorch_pickle_from_a_file_object_gets_the_conversion_hint():
    import pickle
    with pytest.raises(ser.SafetensorsError, match="not a safetensors file .*pickle.*torch.load"):
        tritongrad.load(io.BytesIO(pickle.dumps({"w": list(range(100))}, protocol=4)))


# ------------------------------------------------------------------------------------------ torch.load keywords

def test_torch_load_and_save_keywords_are_accepted():
    obj = {"w": t([1.0, 2.0]), "n": 1}
    buf = io.BytesIO()
    tritongrad.save(obj, buf, pickle_protocol=2, _use_new_zipfile_serialization=False)
    blob = buf.getvalue()
    for kwargs in ({"weights_only": True}, {"weights_only": False}, {"weights_only": None},
                   {"pickle_module": object(), "encoding": "latin1"}, {"mmap": None}, {"map_location": None}):
        assert_tree_equal(tritongrad.load(io.BytesIO(blob), **kwargs), obj)
    with pytest.raises(TypeError, match="unexpected keyword argument 'wieghts_only'"):
        tritongrad.load(io.BytesIO(blob), wieghts_only=True)
    with pytest.raises(TypeError, match="weights_only must be"):
        tritongrad.load(io.BytesIO(blob), weights_only="yes")
    with pytest.raises(ValueError, match="map_location or device"):
        tritongrad.load(io.BytesIO(blob), map_location="cpu", device="cpu")
    with pytest.raises(TypeError, match="map_location must be"):
        tritongrad.load(io.BytesIO(blob), map_location=2.5)
    with pytest.raises(TypeError, match="map_location returned a str"):
        tritongrad.load(io.BytesIO(blob), map_location=lambda s, loc: "cpu")


# ------------------------------------------------------------------------------------------ errors

def test_unsaveable_values_name_their_place(tmp_path):
    path = tmp_path / "x.st"
    model, opt = adam_state()
    with pytest.raises(TypeError, match=r"^obj: cannot save a whole Module \(Sequential\); save "
                                        r"model\.state_dict\(\) instead"):
        tritongrad.save(model, path)
    with pytest.raises(TypeError, match=r"obj\['optimizer'\]: cannot save a Adam object; save its state_dict"):
        tritongrad.save({"optimizer": opt}, path)
    with pytest.raises(TypeError, match=r"^obj\['config'\]\['fn'\]: cannot save a function; tritongrad\.save "
                                        r"stores tensors, numbers, strings, bools, None and dicts/lists/tuples"):
        tritongrad.save({"config": {"fn": lambda x: x}}, path)
    with pytest.raises(TypeError, match=r"obj\[1\]\[0\]: cannot save a set"):
        tritongrad.save([0, ({1},)], path)
    with pytest.raises(TypeError, match=r"obj\['o'\]: cannot save a value of type object"):
        tritongrad.save({"o": object()}, path)
    with pytest.raises(TypeError, match=r"obj\['k'\]: dict key .* of type Tensor cannot be saved"):
        tritongrad.save({"k": {t([1.0]): 1}}, path)
    cycle = [1]
    cycle.append(cycle)
    with pytest.raises(TypeError, match=r"obj\[1\]: the structure contains itself"):
        tritongrad.save(cycle, path)
    for obj in ([t([1.0])], {"w": t([1.0])}):
        with pytest.raises(ValueError, match="reserved"):
            tritongrad.save(obj, path, metadata={STRUCTURE_KEY: "x"})
    assert not path.exists()


def test_malformed_structure_metadata_is_a_safetensors_error(tmp_path):
    w = {"w": np.zeros(2, np.float32)}
    for text, words in [("{oops", "not valid JSON"), ('{"format": 9, "object": 1}', "unsupported"),
                        ('{"format": 1, "object": {"__tensor__": "v"}}', "refers to tensor 'v'"),
                        ('{"format": 1, "object": {"__dict__": 3}}', "__dict__ must hold")]:
        ser.save_file(w, tmp_path / "bad.st", metadata={STRUCTURE_KEY: text})
        with pytest.raises(ser.SafetensorsError, match=words):
            tritongrad.load(tmp_path / "bad.st")


# ------------------------------------------------------------------------------------------ devices

def test_cuda_tensors_and_map_location(tmp_path):
    path = tmp_path / "x.st"
    obj = {"g": t([1.0, 2.0], device="cuda"), "c": t([3], np.int32), "step": 4}
    tritongrad.save(obj, path)
    default = tritongrad.load(path)                       # where they were saved, as torch.load
    assert default["g"].device.type == "cuda" and default["c"].device.type == "cpu"
    assert_tree_equal(default, obj)
    for where, want_g, want_c in [("cpu", "cpu", "cpu"), (tritongrad.device("cuda"), "cuda", "cuda"),
                                  ({"cuda:0": "cpu"}, "cpu", "cpu"), ({"cpu": "cuda"}, "cuda", "cuda"),
                                  (lambda s, loc: s, "cpu", "cpu"), (lambda s, loc: None, "cuda", "cpu"),
                                  (lambda s, loc: s.cuda() if loc == "cpu" else None, "cuda", "cuda")]:
        got = tritongrad.load(path, map_location=where)
        assert (got["g"].device.type, got["c"].device.type) == (want_g, want_c), where
        assert_tree_equal(got, obj)


def test_cuda_saved_tensor_without_cuda_says_to_map_to_cpu(tmp_path, monkeypatch):
    path = tmp_path / "x.st"
    tritongrad.save([t([1.0], device="cuda")], path)
    import tritongrad.runtime.device as rt
    monkeypatch.setattr(rt, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"saved on cuda:0, but cuda is not available.*map_location='cpu'"):
        tritongrad.load(path)
    assert tritongrad.load(path, map_location="cpu")[0].tolist() == [1.0]


# ------------------------------------------------------------------------------------------ user programs

def _mlp_run(steps, state=None, path=None):
    """Train a tiny MLP with Adam for ``steps`` steps (after restoring ``path`` if given)."""
    tritongrad.manual_seed(0 if path is None else 5)    # a resumed run must get everything from the file
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    start = 0
    if path is not None:
        ckpt = tritongrad.load(path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optim"])
        start = ckpt["epoch"]
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((6, 2)).astype(np.float32))
               for _ in range(4)]
    for x, y in batches[start:start + steps]:
        loss = nn.functional.mse_loss(model(tritongrad.from_numpy(x)), tritongrad.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt, start + steps


def test_resume_from_saved_training_state_matches_an_uninterrupted_run(tmp_path):
    straight, _, _ = _mlp_run(4)
    model, opt, epoch = _mlp_run(2)
    tritongrad.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": epoch},
                    tmp_path / "ckpt.pt")
    resumed, _, _ = _mlp_run(2, path=tmp_path / "ckpt.pt")
    assert model.state_dict()["0.weight"].numpy().tobytes() != straight.state_dict()["0.weight"].numpy().tobytes()
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert a.numpy().tobytes() == b.numpy().tobytes(), k


def test_pytorch_tutorial_save_and_load_patterns(tmp_path):
    """pytorch.org "Saving and loading models" with ``import tritongrad as torch``."""
    torch = tritongrad
    PATH = str(tmp_path / "model.pt")
    model, optimizer = adam_state()
    torch.save(model.state_dict(), PATH)
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(torch.load(PATH, weights_only=True))
    fresh.eval()
    assert_tree_equal(fresh.state_dict(), model.state_dict())

    loss = model(torch.randn(2, 3)).sum()                # "Saving & loading a general checkpoint"
    torch.save({"epoch": 5, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "loss": loss}, PATH)
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    checkpoint = torch.load(PATH, weights_only=True)
    fresh.load_state_dict(checkpoint["model_state_dict"])
    fresh_opt.load_state_dict(checkpoint["optimizer_state_dict"])
    epoch, saved_loss = checkpoint["epoch"], checkpoint["loss"]
    fresh.train()
    assert epoch == 5 and saved_loss.item() == loss.item() and not saved_loss.requires_grad
    assert_tree_equal(fresh_opt.state_dict(), optimizer.state_dict())
