"""`tritongrad.device`: where a tensor lives (``torch.device``)."""
from __future__ import annotations

__all__ = ["device", "set_default_device", "get_default_device"]


class device:
    """A device: ``device('cpu')``, ``device('cuda')``, ``device('cuda:1')``, ``device('cuda', 0)``.

    ``cpu`` computes with the NumPy reference backend; ``cuda`` with Triton kernels (on a GPU, or in
    Triton's interpreter on host memory when ``TRITON_INTERPRET=1``).
    """

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device() expects a string like 'cpu' or 'cuda:0', got {type!r}")
        s = type.strip()
        if ":" in s:
            s, idx = s.split(":", 1)
            if index is not None:
                raise ValueError(f"device string {type!r} already has an index; got index={index} too")
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError(f"Invalid device string: '{type}'") from None
        if s not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        if s == "cpu" and index not in (None, 0):
            raise RuntimeError(f"cpu device index must be 0, got {index}")
        self.type = s
        self.index = None if s == "cpu" else index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __reduce__(self):
        return (device, (self.type, self.index))


_CPU = device("cpu")


_DEFAULT = [None]     # the device of set_default_device (None: cpu)


def set_default_device(device):
    """``torch.set_default_device(device)``: the device the factory functions (``tensor``, ``zeros``,
    ``ones``, ``full``, ``empty``, ``arange``, ``linspace``, ``rand``, ``randn``, ...) use when they are given
    no ``device``; ``None`` restores cpu. Tensors made from NumPy (``from_numpy``) stay on cpu, as in
    PyTorch. A bare ``'cuda'`` means the current cuda device at each use."""
    _DEFAULT[0] = None if device is None else device if isinstance(device, (str, int)) else as_device(device)
    if _DEFAULT[0] is not None:
        as_device(_DEFAULT[0])          # a bad spec fails here, not at the next factory call


def get_default_device():
    """``torch.get_default_device()``: the device factory functions use without ``device=`` (cpu unless
    `set_default_device` said otherwise)."""
    return as_device(None)


def as_device(d):
    """Normalise a device spec to a `device`; a bare 'cuda' gets the current cuda device index; ``None`` is
    the default device (`set_default_device`, cpu unless set)."""
    if d is None:
        if _DEFAULT[0] is None:
            return _CPU
        d = _DEFAULT[0]
    if isinstance(d, int):
        return device("cuda", d)
    if not isinstance(d, device):
        d = device(d)
    if d.type == "cuda" and d.index is None:
        from . import runtime
        cur = getattr(runtime, "current_device", None)
        return device("cuda", cur() if cur is not None else 0)
    return d
