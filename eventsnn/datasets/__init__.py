"""Data sets: Yin-Yang (generated, bit-exact with the published splits) and MNIST / Fashion-MNIST (local IDX
files, never downloaded). Encoding into spikes is :mod:`eventsnn.encoders`' job."""

from eventsnn.datasets.mnist import default_data_dir, load_fashion_mnist, load_mnist
from eventsnn.datasets.yinyang import load_yinyang, make_yinyang

__all__ = ["load_yinyang", "make_yinyang", "load_mnist", "load_fashion_mnist", "default_data_dir"]
