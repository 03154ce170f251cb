"""PyTorch: readable generated source of an ``nn.Module``, the live module with
its weights, deformable convolution in pure torch, and offset statistics of
a trained model.
"""
