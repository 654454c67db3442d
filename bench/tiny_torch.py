#!/usr/bin/python3
"""The PyTorch twin of bench/tiny_mlp.adj: 2-16-16-2 tanh MLP, glorot_uniform
weights, zero biases, Adam lr 0.01, batch 32, on the .npy files that
bench/tiny_data.py writes into DIR. Usage: tiny_torch.py [EPOCHS [DIR]]."""
import os, sys

import numpy as np
import torch

from torch_common import mlp, train_and_report

if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "tiny-data")
    torch.manual_seed(0)
    load = lambda n: torch.from_numpy(np.load(os.path.join(root, n)))
    data = (load("train-x.npy"), load("train-y.npy").long(),
            load("test-x.npy"), load("test-y.npy").long())
    model = mlp([2, 16, 16, 2], torch.nn.Tanh, [torch.nn.init.xavier_uniform_] * 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_and_report(model, opt, data, 32, epochs)
