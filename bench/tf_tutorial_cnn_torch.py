#!/usr/bin/python3
"""The PyTorch twin of bench/tf_tutorial_cnn.adj, the CNN of TensorFlow's MNIST /
Fashion-MNIST tutorial: conv 5x5x32 'same', relu, max_pool 2, conv 5x5x64
'same', relu, max_pool 2, linear 3136-1024, relu, dropout 0.4, linear
1024-10; PyTorch's default initialisation (= Adjoint's kaiming_uniform /
uniform_fan_in), Adam lr 1e-3, batch 64, on data/mnist-10k as
[N, 1, 28, 28]. Usage: tf_tutorial_cnn_torch.py [STEPS [TEST_LIMIT]] (THREADS in the
environment)."""
import sys

import torch

from torch_common import mnist, train_steps_and_report

if __name__ == "__main__":
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.4),
        nn.Linear(1024, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    train_steps_and_report(model, opt, mnist((1, 28, 28), limit), 64, steps)
