#!/usr/bin/python3
"""The PyTorch twin of bench/tiny_mlp.adj (2-16-16-2 tanh MLP, Adam lr 0.01,
batch 32) on the .npy files of bench/tiny_data.py in DIR. Prints one JSON
object like adjc's --report. Run with Debian's /usr/bin/python3."""
import json, os, sys, time

import numpy as np
import torch


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-data")
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    torch.manual_seed(0)
    load = lambda n: torch.from_numpy(np.load(os.path.join(root, n)))
    xtr, ytr = load("train-x.npy"), load("train-y.npy").long()
    xte, yte = load("test-x.npy"), load("test-y.npy").long()
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 2))
    for m in (model[0], model[2], model[4]):
        torch.nn.init.xavier_uniform_(m.weight)
        torch.nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    lossf = torch.nn.CrossEntropyLoss()
    batch, train_time, samples = 32, 0.0, 0
    for _ in range(epochs):
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for i in range(0, len(xtr), batch):
            idxs = perm[i:i + batch]
            opt.zero_grad()
            loss = lossf(model(xtr[idxs]), ytr[idxs])
            loss.backward()
            opt.step()
            samples += len(idxs)
        train_time += time.perf_counter() - t0
    with torch.no_grad():
        logits = model(xte)
        acc = (logits.argmax(1) == yte).float().mean().item()
        test_loss = lossf(logits, yte).item()
    print(json.dumps({"framework": "pytorch " + torch.__version__, "epochs": epochs,
                      "test_loss": test_loss, "metrics": {"accuracy": acc},
                      "samples_per_sec": samples / train_time}))


if __name__ == "__main__":
    main()
