"""The scratch network mirrored in PyTorch (torch_mlp.py) and Keras on TensorFlow (keras_mlp.py).

Nothing is imported here: each framework is optional, and compare.frameworks imports the
module of a framework only when a run asks for it.
"""
