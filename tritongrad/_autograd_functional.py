"""``tritongrad.autograd.functional``: `vjp`, `jvp`, `hvp`, `vhp`, `jacobian` and `hessian`, with
``torch.autograd.functional``'s signatures, results and errors.

All of them are built on reverse mode (`autograd.grad`); `jvp` and `hvp` use the double-vjp trick (the vjp of
a vjp with respect to its upstream vector), so they need ``create_graph=True`` internally: every op they go
through must be differentiable twice (three times for `hvp`). ``vectorize=True`` (vmap) and forward-mode
strategies are not supported.
"""
from __future__ import annotations

from . import autograd as _ag

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _tensor_cls():
    return _ag._tensor_class()


def _as_tuple(inp, arg_name, fn_name):
    """``(is_tuple, tuple)``; raises TypeError for anything but a Tensor or a tuple/list of Tensors."""
    Tensor = _tensor_cls()
    is_tuple = isinstance(inp, (tuple, list))
    items = tuple(inp) if is_tuple else (inp,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            if is_tuple:
                raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but"
                                f" the value at index {i} has type {type(el)}.")
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but the"
                            f" given {arg_name} has type {type(el)}.")
    return is_tuple, items


def _tuple_postprocess(res, to_unpack):
    """Unpack ``res`` (a tuple, or a tuple of tuples) as the inputs/outputs were given (PyTorch's rule)."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _grad_preprocess(inputs, create_graph, need_graph):
    """Inputs as fresh graph roots: views that keep the caller's graph under ``create_graph``, detached
    leaves otherwise."""
    res = []
    for inp in inputs:
        if create_graph and inp.requires_grad:
            res.append(inp.view_as(inp) if inp.is_floating_point() else inp)
        else:
            res.append(inp.detach().requires_grad_(need_graph) if inp.is_floating_point() else inp.detach())
    return tuple(res)


def _grad_postprocess(inputs, create_graph):
    if isinstance(inputs[0], _tensor_cls()):
        return inputs if create_graph else tuple(inp.detach() for inp in inputs)
    return tuple(_grad_postprocess(inp, create_graph) for inp in inputs)


def _validate_v(v, other, is_other_tuple):
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if tuple(el_v.shape) != tuple(el_other.shape):
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {list(el_other.shape)} but got "
                               f"{list(el_v.shape)}.")


def _check_requires_grad(inputs, input_type, strict):
    if not strict:
        return
    if input_type not in ("outputs", "grad_inputs", "jacobian", "hessian"):
        raise RuntimeError("Invalid input_type to _check_requires_grad")
    for i, inp in enumerate(inputs):
        if inp is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is not "
                               f"allowed in strict mode.")
        if not inp.requires_grad:
            if input_type == "hessian":
                raise RuntimeError(f"The hessian of the user-provided function with respect to input {i} is "
                                   f"independent of the input. This is not allowed in strict mode. You should "
                                   f"ensure that your function is thrice differentiable and that the hessian "
                                   f"depends on the inputs.")
            if input_type == "jacobian":
                raise RuntimeError(f"While computing the hessian, found that the jacobian of the user-provided "
                                   f"function with respect to input {i} is independent of the input. This is not "
                                   f"allowed in strict mode. You should ensure that your function is twice "
                                   f"differentiable and that the jacobian depends on the inputs (this would be "
                                   f"violated by a linear function for example).")
            if input_type == "grad_inputs":
                raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs of the "
                                   f"user-provided function. This is not allowed in strict mode.")
            raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The outputs "
                               f"must be computed in a differentiable manner from the input when running in strict "
                               f"mode.")


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """`autograd.grad` over the outputs that require grad (None for inputs they do not reach)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    new_outputs, new_grads = [], []
    for out, g in zip(outputs, grad_outputs):
        if out is not None and out.requires_grad:
            new_outputs.append(out)
            new_grads.append(g)
    if not new_outputs:
        return (None,) * len(inputs)
    diff = [i for i, x in enumerate(inputs) if x.requires_grad]
    res = [None] * len(inputs)
    if diff:
        got = _ag.grad(new_outputs, [inputs[i] for i in diff], new_grads, allow_unused=True,
                       create_graph=create_graph, retain_graph=retain_graph)
        for i, g in zip(diff, got):
            res[i] = g
    return tuple(res)


def _fill_in_zeros(grads, refs, strict, create_graph, stage):
    """None gradients as zeros (an output independent of an input); strict mode raises instead."""
    from .tensor import zeros_like
    res = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                if stage == "back":
                    raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                                       f"This is not allowed in strict mode.")
                if stage == "back_trick":
                    raise RuntimeError(f"The gradient with respect to the input is independent of entry {i} in the "
                                       f"grad_outputs when using the double backward trick to compute forward mode "
                                       f"gradients. This is not allowed in strict mode.")
                if stage == "double_back":
                    raise RuntimeError(f"The jacobian of the user-provided function is independent of input {i}. "
                                       f"This is not allowed in strict mode.")
                raise RuntimeError(f"The hessian of the user-provided function is independent of entry {i} in the "
                                   f"grad_jacobian. This is not allowed in strict mode as it prevents from using the "
                                   f"double backward trick to replace forward mode AD.")
            g = zeros_like(ref)
        res.append(g)
    return tuple(res)


def _scalar_v(outputs):
    if len(outputs) != 1 or outputs[0].numel() != 1:
        raise RuntimeError("The vector v can only be None if the user-provided function returns a single Tensor "
                           "with a single element.")


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``: the vector-Jacobian product of ``func`` at ``inputs``
    (``torch.autograd.functional.vjp``). ``v`` may be None only for a single-element output."""
    with _ag.enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict=strict)
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        else:
            _scalar_v(outputs)
        grad_res = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        vjp_res = _fill_in_zeros(grad_res, inputs, strict, create_graph, "back")
    outputs = _grad_postprocess(outputs, create_graph)
    vjp_res = _grad_postprocess(vjp_res, create_graph)
    return _tuple_postprocess(outputs, is_outputs_tuple), _tuple_postprocess(vjp_res, is_inputs_tuple)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``: the Jacobian-vector product (``torch.autograd.functional.jvp``), computed by the
    double-vjp trick (the vjp w.r.t. a zero upstream vector, differentiated in that vector)."""
    with _ag.enable_grad():
        is_inputs_tuple, inputs, v = _setup_v(inputs, v, create_graph, "jvp")
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict=strict)
        jvp_res = _double_vjp(outputs, inputs, v, outputs, create_graph, strict, "back_trick")
    outputs = _grad_postprocess(outputs, create_graph)
    jvp_res = _grad_postprocess(jvp_res, create_graph)
    return _tuple_postprocess(outputs, is_outputs_tuple), _tuple_postprocess(jvp_res, is_outputs_tuple)


def _double_vjp(outputs, inputs, v, like, create_graph, strict, stage):
    """``J v`` for ``J`` = d outputs / d inputs, by reverse mode twice: the vjp with a zero upstream vector ``u``
    (shaped as ``like``: the outputs, kept as a graph), then its gradient w.r.t. ``u`` along ``v``."""
    from .tensor import zeros_like
    u = tuple(zeros_like(t).requires_grad_(True) for t in like)
    back = _autograd_grad(outputs, inputs, u, create_graph=True)
    _check_requires_grad(back, "grad_inputs" if stage == "back_trick" else "hessian", strict=strict)
    grad_res = _autograd_grad(back, u, v, create_graph=create_graph)
    return _fill_in_zeros(grad_res, like, strict, create_graph, stage)


def _check_vectorize(vectorize, strategy):
    if vectorize:
        raise NotImplementedError("vectorize=True (vmap) is not supported by tritongrad; use vectorize=False")
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function '
                         'has more outputs than inputs, "forward-mode" tends to be more performant. Otherwise, prefer '
                         'to use "reverse-mode".')
    if strategy == "forward-mode":
        raise ValueError("torch.autograd.functional.jacobian: `strategy=\"forward-mode\"` is only implemented "
                         "together with `vectorize=True`, which tritongrad does not support.")


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs`` (``torch.autograd.functional.jacobian``), one reverse pass per
    output element: for output ``i`` and input ``j`` a Tensor of shape ``out_i.shape + in_j.shape``, nested
    as tuples when ``func`` returns / ``inputs`` is a tuple."""
    from .tensor import stack, zeros
    _check_vectorize(vectorize, strategy)
    with _ag.enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict=strict)
        jacobian_rows = []
        for i, out in enumerate(outputs):
            flat = out.reshape(-1)
            per_input = [[] for _ in inputs]
            for j in range(flat.numel()):
                vj = _autograd_grad((flat[j],), inputs, retain_graph=True, create_graph=create_graph)
                for el_idx, (per, vj_el, inp) in enumerate(zip(per_input, vj, inputs)):
                    if vj_el is None:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is independent of input "
                                               f"{el_idx}. This is not allowed in strict mode.")
                        vj_el = zeros(inp.shape, dtype=inp.dtype, device=inp.device)
                    per.append(vj_el)
            jacobian_rows.append(tuple(
                (stack(per, 0) if per else zeros((0,) + tuple(inp.shape), dtype=inp.dtype, device=inp.device))
                .reshape(tuple(out.shape) + tuple(inp.shape)) for per, inp in zip(per_input, inputs)))
        jac = _grad_postprocess(tuple(jacobian_rows), create_graph)
    return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of the scalar function ``func`` at ``inputs`` (``torch.autograd.functional.hessian``): the
    Jacobian of its gradient; for tuple inputs a tuple of tuples (block ``(i, j)`` of shape
    ``in_i.shape + in_j.shape``)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    _check_vectorize(vectorize, outer_jacobian_strategy)

    def ensure_single_output_function(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict=strict)
        if is_out_tuple or not isinstance(out, _tensor_cls()):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single "
                               "element")
        return out.squeeze()

    def jac_func(*inp):
        inp = tuple(t.requires_grad_(True) if not t.requires_grad else t for t in inp)
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict)
    return _tuple_postprocess(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_output(func, inputs, fn_name, strict):
    outputs = func(*inputs)
    is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", fn_name)
    _check_requires_grad(outputs, "outputs", strict=strict)
    if is_outputs_tuple or not isinstance(outputs[0], _tensor_cls()):
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single "
                           f"element")
    return outputs


def _setup_v(inputs, v, create_graph, fn_name):
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    elif len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError("The vector v can only be None if the input to the user-provided function is a single "
                           "Tensor with a single element.")
    return is_inputs_tuple, inputs, v


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)`` for a scalar ``func`` (``torch.autograd.functional.vhp``)."""
    with _ag.enable_grad():
        is_inputs_tuple, inputs, v = _setup_v(inputs, v, create_graph, "vhp")
        outputs = _scalar_output(func, inputs, "vhp", strict)
        jac = _autograd_grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
        grad_res = _autograd_grad(jac, inputs, v, create_graph=create_graph)
        vhp_res = _fill_in_zeros(grad_res, inputs, strict, create_graph, "double_back")
    outputs = _grad_postprocess(outputs, create_graph)
    vhp_res = _grad_postprocess(vhp_res, create_graph)
    return _tuple_postprocess(outputs, False), _tuple_postprocess(vhp_res, is_inputs_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for a scalar ``func`` (``torch.autograd.functional.hvp``), by the double-backward
    trick as PyTorch computes it (so the function must be differentiable three times)."""
    with _ag.enable_grad():
        is_inputs_tuple, inputs, v = _setup_v(inputs, v, create_graph, "hvp")
        outputs = _scalar_output(func, inputs, "hvp", strict)
        jac = _autograd_grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
        hvp_res = _double_vjp(jac, inputs, v, inputs, create_graph, strict, "double_back_trick")
    outputs = _grad_postprocess(outputs, create_graph)
    hvp_res = _grad_postprocess(hvp_res, create_graph)
    return _tuple_postprocess(outputs, False), _tuple_postprocess(hvp_res, is_inputs_tuple)
