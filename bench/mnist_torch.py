#!/usr/bin/python3
"""The PyTorch twin of examples/mnist_mlp.adj: 784-256-128-10 ReLU MLP, he_normal,
he_normal, glorot_uniform weights, zero biases, Adam lr 1e-3, batch 64, on
data/mnist-10k. Usage: mnist_torch.py [EPOCHS] (THREADS in the environment)."""
import sys

import torch

from torch_common import mlp, mnist, train_and_report

if __name__ == "__main__":
    torch.manual_seed(0)
    init = torch.nn.init
    model = mlp([784, 256, 128, 10], torch.nn.ReLU,
                [init.kaiming_normal_, init.kaiming_normal_, init.xavier_uniform_])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_and_report(model, opt, mnist(), 64, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
