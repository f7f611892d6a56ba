"""``torch.onnx`` has no counterpart in tritongrad: importing it says so."""
raise ImportError("tritongrad has no ONNX exporter (torch.onnx): export a model from its state_dict with PyTorch "
                  "(tritongrad.save writes safetensors that PyTorch's safetensors loader reads)")
