"""``torch.nn.modules.module``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.module`."""
from ..module import (Module, register_module_forward_hook, register_module_forward_pre_hook,  # noqa: F401
                      register_module_full_backward_hook, register_module_full_backward_pre_hook)

__all__ = ['Module', 'register_module_forward_hook', 'register_module_forward_pre_hook',
           'register_module_full_backward_hook', 'register_module_full_backward_pre_hook']
