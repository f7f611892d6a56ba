"""The backward engine for ``create_graph=True`` (higher-order gradients).

The fast engine (`autograd._run_backward`) moves backend arrays through each node's ``backward``; nothing it
computes is recorded. With ``create_graph=True`` the engine here runs instead: gradient slots hold Tensors,
each node's ``backward_graph`` computes its input gradients with differentiable Tensor operations (recorded
with grad mode on), so the gradients it returns have a ``grad_fn`` and can be differentiated again.

Nodes re-enter their own graph through `input_tensor` (an input as a Tensor connected to the node that
produced it) and `output_tensor` (an output connected to the node itself, for formulas written with the
output, as softmax's). An op with no differentiable formula falls back to `once_only`: its array backward
runs, and differentiating the result raises "<Name>Backward is not differentiable twice" (PyTorch's error).
"""
from __future__ import annotations

from .autograd import Op, _needed, _tensor_class, _topo_order, enable_grad

__all__ = ["run_backward_graph", "grad_graph", "root_grad_tensors", "input_tensor", "output_tensor", "constant",
           "once_only"]


# ------------------------------------------------------------------------------------------ node helpers
def _device(node):
    return node._graph_device


def constant(node, array):
    """``array`` (a backend array of ``node``'s backend) as a Tensor outside the graph."""
    Tensor = _tensor_class()
    return Tensor._make(array, _device(node), node.be)


def input_tensor(node, i, array):
    """Input ``i`` of ``node`` as a Tensor holding ``array`` (the input's saved value), connected to the graph
    that produced the input, so gradients of a formula using it flow on to that graph."""
    p = node.parents[i] if i < len(node.parents) else None
    if p is None:
        return constant(node, array)
    if p.grad_fn is None:
        return p                    # a leaf: the tensor itself
    t = constant(node, array)
    t.requires_grad = True
    t.grad_fn, t._out_idx = p.grad_fn, p._out_idx
    return t


def output_tensor(node, i, array):
    """Output ``i`` of ``node`` as a Tensor holding ``array``, connected to ``node`` itself."""
    t = constant(node, array)
    t.requires_grad = True
    t.grad_fn, t._out_idx = node, i
    return t


class _NotTwice(Op):
    """Identity whose backward raises: marks the results of a node's array backward used under
    ``create_graph=True`` when the node has no differentiable formula."""

    def forward(self, *arrays, owner):
        self.owner = owner
        return arrays if len(arrays) > 1 else arrays[0]

    def backward(self, *grads):
        raise RuntimeError(f"the derivative for '{self.owner}' is not implemented: {self.owner} is not "
                           f"differentiable twice (create_graph=True went through it)")

    @property
    def name(self):
        return "NotImplemented"


def once_only(node, grads):
    """``node``'s array backward on ``grads`` (Tensors or None), its results as Tensors whose backward raises
    (PyTorch's "not differentiable twice"), so first-order results stay right and a second derivative fails
    loudly instead of being silently zero."""
    Tensor = _tensor_class()
    arrays = node.backward(*[None if g is None else g._data for g in grads])
    if not isinstance(arrays, tuple):
        arrays = (arrays,)
    out = []
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        t = Tensor._make(a, _device(node), node.be)
        if t.dtype.is_floating_point:
            t = t.detach().requires_grad_(True)
            t = _NotTwice.apply(t, owner=node.name)
        out.append(t)
    return tuple(out)


# ------------------------------------------------------------------------------------------ the engine
def _accumulate(prev, g):
    return g if prev is None else prev + g


def _apply_hooks(t, g):
    for hook in list(t._hooks.values()):
        res = hook(g)
        if res is not None:
            g = res
    return g


def run_backward_graph(roots, root_grads, retain_graph, capture=None, inputs=()):
    """The engine with ``create_graph=True``: ``root_grads`` are Tensors; returns {id(input): Tensor} when
    ``capture`` is given (`grad`), else accumulates into the leaves' ``.grad`` (`backward`)."""
    with enable_grad():
        return _run(roots, root_grads, retain_graph, capture, inputs)


def _run(roots, root_grads, retain_graph, capture, inputs):
    pending, leaf_grads, captured, nodes = {}, {}, {}, []
    for t, g in zip(roots, root_grads):
        if t.grad_fn is None:
            if capture is not None and id(t) in capture:
                captured[id(t)] = _accumulate(captured.get(id(t)), g)
            elif capture is None:
                slot = leaf_grads.setdefault(id(t), [t, None])
                slot[1] = _accumulate(slot[1], g)
            continue
        node = t.grad_fn
        lst = pending.setdefault(id(node), [None] * len(node._out_refs))
        lst[t._out_idx] = _accumulate(lst[t._out_idx], g)
        nodes.append(node)
    order = _topo_order(nodes)
    needed = None if capture is None else _needed(order, capture, inputs)
    for node in order:
        grads = pending.pop(id(node), None)
        if grads is None or all(g is None for g in grads):
            continue
        node._check_saved()
        for i, ref in enumerate(node._out_refs):
            t = ref() if ref is not None else None
            if t is None or grads[i] is None:
                continue
            if t._hooks:
                grads[i] = _apply_hooks(t, grads[i])
            if capture is not None and id(t) in capture:
                captured[id(t)] = _accumulate(captured.get(id(t)), grads[i])
            if capture is None and t._retains_grad:
                t.grad = grads[i] if t.grad is None else t.grad + grads[i]
        if needed is not None and id(node) not in needed:
            continue
        node._graph_device = next(g.device for g in grads if g is not None)
        in_grads = node.backward_graph(*grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if not retain_graph:
            node.saved_tensors = ()
            node._freed = True
        for p, g in zip(node.parents, in_grads):
            if p is None or g is None:
                continue
            if tuple(g.shape) != p.shape:
                raise RuntimeError(f"Function {node.name} returned an invalid gradient - got shape "
                                   f"{list(g.shape)} but expected shape {list(p.shape)}")
            if g.dtype != p.dtype:
                g = g.to(p.dtype)
            if p.grad_fn is None:
                if capture is not None:
                    if id(p) in capture:
                        captured[id(p)] = _accumulate(captured.get(id(p)), g)
                else:
                    slot = leaf_grads.setdefault(id(p), [p, None])
                    slot[1] = _accumulate(slot[1], g)
            else:
                lst = pending.setdefault(id(p.grad_fn), [None] * len(p.grad_fn._out_refs))
                lst[p._out_idx] = _accumulate(lst[p._out_idx], g)
    if capture is not None:
        return captured
    for leaf, g in leaf_grads.values():
        if leaf._hooks:
            g = _apply_hooks(leaf, g)
        if not leaf.requires_grad:
            continue
        if leaf.grad is None:
            # AccumulateGrad under create_graph: the gradient keeps its graph (a graph-less one is copied, so
            # .grad never aliases a tensor the caller holds)
            leaf.grad = g if g.grad_fn is not None else g.detach().clone()
        else:
            leaf.grad = leaf.grad + g
    return None


def root_grad_tensors(tensors, arrays, given):
    """The root gradients as Tensors: a Tensor the caller passed is used itself (it may require grad, as the
    ``grad_outputs`` of a double backward do), others wrap the validated arrays."""
    Tensor = _tensor_class()
    out = []
    for i, (t, a) in enumerate(zip(tensors, arrays)):
        g = given[i] if given is not None and i < len(given) else None
        if isinstance(g, Tensor):
            out.append(g if g.dtype == t.dtype else g.to(t.dtype))
        else:
            out.append(Tensor._make(a, t.device, t._be))
    return out


def grad_graph(outputs, inputs, arrays, grad_outputs, retain_graph, allow_unused):
    """`autograd.grad` with ``create_graph=True`` (after its checks): gradients as recorded Tensors."""
    from .autograd import _report_device_errors
    roots = root_grad_tensors(outputs, arrays, grad_outputs)
    captured = run_backward_graph(outputs, roots, True if retain_graph is None else bool(retain_graph),
                                  capture={id(x): i for i, x in enumerate(inputs)}, inputs=inputs)
    _report_device_errors(outputs)
    result = []
    for i, x in enumerate(inputs):
        g = captured.get(id(x))
        if g is None and not allow_unused:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not have been "
                               f"used in the graph. Set allow_unused=True if this is the desired behavior.")
        result.append(g)
    return tuple(result)
