#!/usr/bin/python3
"""The PyTorch twin of bench/char_{lstm,gru}{128,256}.adj: a byte-level
language model nn.Embedding(256, 64) + nn.LSTM or nn.GRU(64, H,
batch_first=True) + nn.Linear(H, 256) with PyTorch's default initialisation,
Adam lr 1e-3, batch 32, on windows of T = 64 bytes of data/text/fortunes.txt
(the first 90% train, the rest test; the targets one byte later), as
Adjoint's text(...) source cuts them. Usage: char_rnn_torch.py lstm|gru H
[STEPS] (THREADS in the environment)."""
import os
import sys

import torch

from torch_common import text, train_steps_and_report

TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "text",
                    "fortunes.txt")
T = 64


class CharRNN(torch.nn.Module):
    def __init__(self, cell, hidden):
        super().__init__()
        self.emb = torch.nn.Embedding(256, 64)
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.rnn = rnn(64, hidden, batch_first=True)
        self.fc = torch.nn.Linear(hidden, 256)

    def forward(self, x):  # x: [N, T] byte ids -> [N, T, 256] logits
        hs, _ = self.rnn(self.emb(x))
        return self.fc(hs)


if __name__ == "__main__":
    cell, hidden = sys.argv[1], int(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    torch.manual_seed(0)
    model = CharRNN(cell, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = (text(TEXT, T, 0, end=0.9), text(TEXT, T, 1, end=0.9),
            text(TEXT, T, 0, start=0.9), text(TEXT, T, 1, start=0.9))
    train_steps_and_report(model, opt, data, 32, steps)
