"""Data sets: Yin-Yang (generated, bit-exact with the published splits) and MNIST / Fashion-MNIST (local IDX
files) and N-MNIST (local event files), never downloaded. Encoding into spikes is :mod:`eventsnn.encoders`' job."""

from eventsnn.datasets.mnist import default_data_dir, load_fashion_mnist, load_mnist
from eventsnn.datasets.nmnist import load_nmnist
from eventsnn.datasets.yinyang import load_yinyang, make_yinyang

__all__ = ["load_yinyang", "make_yinyang", "load_mnist", "load_fashion_mnist", "load_nmnist", "default_data_dir"]
