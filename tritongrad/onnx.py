"""``torch.onnx``: tritongrad has no ONNX exporter.

The module imports (scripts such as pytorch/examples word_language_model/main.py do ``import torch.onnx``
at the top and export only on request), and every exporter entry point raises, naming the way out.
"""

_NO_EXPORTER = ("tritongrad has no ONNX exporter (torch.onnx): export a model from its state_dict with PyTorch "
                "(tritongrad.save writes safetensors that PyTorch's safetensors loader reads)")


def export(model, args=(), f=None, *pargs, **kwargs):
    """``torch.onnx.export(model, args, f, ...)``: not available in tritongrad; always raises
    ``NotImplementedError`` (export the saved state_dict with PyTorch instead)."""
    raise NotImplementedError(_NO_EXPORTER)


def dynamo_export(model, *args, **kwargs):
    """``torch.onnx.dynamo_export``: not available in tritongrad; always raises ``NotImplementedError``."""
    raise NotImplementedError(_NO_EXPORTER)


def is_in_onnx_export():
    """``torch.onnx.is_in_onnx_export()``: False, since tritongrad never exports ONNX."""
    return False
