"""The one place where Triton versions differ for tritongrad's kernels (we promise triton >= 3.6).

The kernel sources are the same on every version; this module only repairs the runtime they run on.

* **Interpreter: a scalar argument as a loop bound (triton 3.6 with numpy >= 2.4).** Triton's interpreter
  hands every int argument to the kernel as a tensor holding a 1-element, 1-D array, and its
  ``tensor.__index__`` (what ``range(0, n, BLOCK)`` calls) is ``int(data)``. numpy 2.4 made ``int()`` of
  an array with ``ndim > 0`` a ``TypeError`` ("only 0-dimensional arrays can be converted to Python scalars"),
  so every kernel looping up to a runtime size failed under triton 3.6's interpreter (triton-lang/triton
  issue 9171). Later Triton releases (3.9 here) use ``int(data.squeeze())``; `backport_interpreter_index`
  installs that same definition where the installed interpreter lacks it. Compiled kernels are unaffected.
"""
from __future__ import annotations

import numpy as np

__all__ = ["backport_interpreter_index"]


def _index_fails_on_1d_scalars(interpreter, tl):
    """True when the installed interpreter's ``tensor.__index__`` rejects a scalar argument's 1-element
    array (checked by patching a throwaway subclass, so Triton's own classes are left untouched)."""
    class _Probe(tl.tensor):
        pass

    scope = interpreter._LangPatchScope()
    interpreter._patch_lang_tensor(_Probe, scope)
    try:
        probe = _Probe(interpreter.TensorHandle(np.array([3], dtype=np.int32), tl.int32), tl.int32)
        return probe.__index__() != 3
    except TypeError:
        return True
    finally:
        scope.restore()


def backport_interpreter_index():
    """Under Triton's interpreter, make a scalar kernel argument usable as a ``range`` bound on every
    promised Triton version (see the module docstring). Idempotent; does nothing for compiled kernels or
    where the installed interpreter is already right."""
    from tritongrad import runtime
    if not runtime.interpreting():
        return
    import triton.language as tl
    from triton.runtime import interpreter
    if not all(hasattr(interpreter, name) for name in ("_patch_lang_tensor", "_LangPatchScope", "TensorHandle")):
        return  # a reorganized later interpreter; the fix is upstream (3.9 has it)
    patch_tensor = interpreter._patch_lang_tensor
    if getattr(patch_tensor, "_tritongrad_backport", False) or not _index_fails_on_1d_scalars(interpreter, tl):
        return

    def _patch_lang_tensor(tensor, scope):
        patch_tensor(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.squeeze()))

    _patch_lang_tensor._tritongrad_backport = True
    interpreter._patch_lang_tensor = _patch_lang_tensor
