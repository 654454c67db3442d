#!/usr/bin/python3
"""The PyTorch twin of examples/char_lstm.adj, for the comparison in
README.md: nn.Embedding(256, 64) + nn.LSTM(64, 256, batch_first=True) +
nn.Linear(256, 256) with PyTorch's default initialisers, Adam (lr 2e-3),
batch 32, trained on the same windows of the same file as the model's
text(...) sources (window k of a range [a, b) of the file's L bytes, a =
floor(start L), b = floor(end L), starts at byte a + 64 k + offset; there
are floor((b - a - 1) / 64) of them, so the targets, one byte later, stay
in the range). Prints the test loss after each epoch in nats and in bits
per character, and the time taken. Usage:

  /usr/bin/python3 scripts/char_lstm_torch.py [EPOCHS] [THREADS] [FILE]
"""
import math, os, sys, time
import torch
import torch.nn.functional as F

T = 64
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def windows(data, start, end, offset):
    a, b = math.floor(start * len(data)), math.floor(end * len(data))
    k = (b - a - 1) // T
    starts = [a + i * T + offset for i in range(k)]
    return torch.tensor([list(data[s:s + T]) for s in starts])


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    path = (sys.argv[3] if len(sys.argv) > 3
            else os.path.join(ROOT, "data", "text", "fortunes.txt"))
    data = open(path, "rb").read()
    x, y = windows(data, 0, 0.9, 0), windows(data, 0, 0.9, 1)
    tx, ty = windows(data, 0.9, 1, 0), windows(data, 0.9, 1, 1)
    torch.manual_seed(0)
    emb = torch.nn.Embedding(256, 64)
    lstm = torch.nn.LSTM(64, 256, batch_first=True)
    fc = torch.nn.Linear(256, 256)
    params = [*emb.parameters(), *lstm.parameters(), *fc.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)

    def logits(xb):
        hs, _ = lstm(emb(xb))
        return fc(hs)

    start = time.time()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            loss = F.cross_entropy(logits(x[idx]).reshape(-1, 256),
                                   y[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        with torch.no_grad():
            test = F.cross_entropy(logits(tx).reshape(-1, 256),
                                   ty.reshape(-1)).item()
        print(f"epoch {epoch}/{epochs}: train_loss {total / len(x):.4f}  "
              f"test_loss {test:.4f} ({test / math.log(2):.3f} bits/char)  "
              f"{time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
