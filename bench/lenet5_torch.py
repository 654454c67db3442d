#!/usr/bin/python3
"""The PyTorch twin of bench/lenet5.adj: LeNet-5 (conv 5x5x6 padding 2, relu,
max_pool 2, conv 5x5x16, relu, max_pool 2, linear 400-120-84-10 with relu),
PyTorch's default initialisation (= Adjoint's kaiming_uniform /
uniform_fan_in), Adam lr 1e-3, batch 64, on data/mnist-10k as [N, 1, 28, 28].
Usage: lenet5_torch.py [STEPS [TEST_LIMIT]] (THREADS in the environment)."""
import sys

import torch

from torch_common import mnist, train_steps_and_report

if __name__ == "__main__":
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    train_steps_and_report(model, opt, mnist((1, 28, 28), limit), 64, steps)
