"""Lesson 1.2: Micrograd, a scalar automatic-differentiation engine.

Write every method that raises NotImplementedError. `ztf check 1.2` (or saving this file
while `ztf start` runs) tells you which parts are correct. Run `ztf hint 1.2` when stuck.
"""

import math
import random


class Value:
    """A scalar that remembers how it was computed, so gradients can flow back through it.

    Attributes:
        data: the number this node holds (a float).
        grad: d(output)/d(this node), filled in by `backward()`; starts at 0.0.
        _prev: the Value objects this node was computed from (its children in the graph).
        _op: a short label of the operation that made this node, for debugging.
        _backward: a function that adds this node's contribution to its children's grads.
    """

    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        """Return a new Value for self + other. `other` may be a Value or a plain number.

        Its _backward adds out.grad to the grad of both inputs (d(a+b)/da = 1).
        """
        raise NotImplementedError("Value.__add__ (self + other) is not implemented yet")

    def __mul__(self, other):
        """Return a new Value for self * other. `other` may be a Value or a plain number.

        Its _backward uses d(a*b)/da = b and d(a*b)/db = a.
        """
        raise NotImplementedError("Value.__mul__ (self * other) is not implemented yet")

    def __pow__(self, exponent):
        """Return a new Value for self ** exponent, where exponent is an int or float constant.

        Its _backward uses the power rule: d(x**n)/dx = n * x**(n-1).
        """
        raise NotImplementedError("Value.__pow__ (self ** exponent) is not implemented yet")

    def relu(self):
        """Return a new Value for max(0, self). Its derivative is 1 where the output is positive, else 0."""
        raise NotImplementedError("Value.relu is not implemented yet")

    def tanh(self):
        """Return a new Value for tanh(self). Its derivative is 1 - tanh(x)**2."""
        raise NotImplementedError("Value.tanh is not implemented yet")

    def exp(self):
        """Return a new Value for e**self. Its derivative is e**x itself."""
        raise NotImplementedError("Value.exp is not implemented yet")

    def backward(self):
        """Fill in .grad of every node this Value depends on.

        Order all nodes topologically (each node after everything it was computed from),
        set this node's grad to 1.0, then call each node's _backward in reverse order.
        """
        raise NotImplementedError("Value.backward is not implemented yet")

    def __neg__(self):
        """-self. Build it from operations you already have."""
        raise NotImplementedError("Value.__neg__ (-self) is not implemented yet")

    def __sub__(self, other):
        """self - other."""
        raise NotImplementedError("Value.__sub__ (self - other) is not implemented yet")

    def __truediv__(self, other):
        """self / other. Hint: a / b = a * b**-1."""
        raise NotImplementedError("Value.__truediv__ (self / other) is not implemented yet")

    def __radd__(self, other):
        """other + self, when other is a plain number (Python calls this for 2 + v)."""
        raise NotImplementedError("Value.__radd__ (number + Value) is not implemented yet")

    def __rmul__(self, other):
        """other * self, when other is a plain number."""
        raise NotImplementedError("Value.__rmul__ (number * Value) is not implemented yet")

    def __rsub__(self, other):
        """other - self, when other is a plain number. Mind the order."""
        raise NotImplementedError("Value.__rsub__ (number - Value) is not implemented yet")

    def __rtruediv__(self, other):
        """other / self, when other is a plain number. Mind the order."""
        raise NotImplementedError("Value.__rtruediv__ (number / Value) is not implemented yet")


class Neuron:
    """One unit: tanh(w · x + b), or just w · x + b when nonlinear is False.

    Attributes:
        w: a list of n_inputs Value weights, each drawn from random.uniform(-1, 1).
        b: a Value bias, starting at 0.0.
    """

    def __init__(self, n_inputs, nonlinear=True):
        raise NotImplementedError("Neuron.__init__ is not implemented yet")

    def __call__(self, x):
        """Apply the neuron to a list of numbers or Values; return one Value."""
        raise NotImplementedError("Neuron.__call__ is not implemented yet")

    def parameters(self):
        """Return the weights followed by the bias: self.w + [self.b]."""
        raise NotImplementedError("Neuron.parameters is not implemented yet")


class Layer:
    """n_outputs neurons that all see the same inputs. Attribute: neurons (a list)."""

    def __init__(self, n_inputs, n_outputs, nonlinear=True):
        raise NotImplementedError("Layer.__init__ is not implemented yet")

    def __call__(self, x):
        """Return a list with one Value per neuron."""
        raise NotImplementedError("Layer.__call__ is not implemented yet")

    def parameters(self):
        """Return every neuron's parameters, neuron by neuron, in order."""
        raise NotImplementedError("Layer.parameters is not implemented yet")


class MLP:
    """A multi-layer perceptron: tanh layers, then a linear last layer.

    MLP(3, [4, 4, 1]) takes 3 inputs, has two hidden layers of 4 tanh neurons and one linear
    output neuron. Attribute: layers (a list of Layer).
    """

    def __init__(self, n_inputs, layer_sizes):
        raise NotImplementedError("MLP.__init__ is not implemented yet")

    def __call__(self, x):
        """Run x through every layer; return the last layer's list of Values."""
        raise NotImplementedError("MLP.__call__ is not implemented yet")

    def parameters(self):
        """Return every layer's parameters, layer by layer, in order."""
        raise NotImplementedError("MLP.parameters is not implemented yet")

    def zero_grad(self):
        """Set the grad of every parameter to 0.0 (call it before each backward pass)."""
        raise NotImplementedError("MLP.zero_grad is not implemented yet")
