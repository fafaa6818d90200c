"""The built-in implementations, each registered in compare/engine/registry.py (BUILTIN) like a
user's: scratch (the NumPy MLP, in torch's or Keras's conventions), torch and keras (reference/)."""
