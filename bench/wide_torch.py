#!/usr/bin/python3
"""The PyTorch twin of bench/wide_mlp.adj: 784-1024-1024-10 ReLU MLP, he_normal,
he_normal, glorot_uniform weights, zero biases, SGD lr 0.05, batch 128, on
data/mnist-10k. Usage: wide_torch.py [EPOCHS] (THREADS in the environment)."""
import sys

import torch

from torch_common import mlp, mnist, train_and_report

if __name__ == "__main__":
    torch.manual_seed(0)
    init = torch.nn.init
    model = mlp([784, 1024, 1024, 10], torch.nn.ReLU,
                [init.kaiming_normal_, init.kaiming_normal_, init.xavier_uniform_])
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    train_and_report(model, opt, mnist(), 128, int(sys.argv[1]) if len(sys.argv) > 1 else 1)
