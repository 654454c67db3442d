#!/usr/bin/python3
"""The PyTorch twin of bench/wide_mlp.adj (784-1024-1024-10 ReLU MLP, SGD
lr 0.05, batch 128): same model, initialisers, optimizer, batch size, epochs
and data (data/mnist-10k). Prints one JSON
object like adjc's --report (test accuracy, samples/s in the training loop).
Run with Debian's /usr/bin/python3 (python3-torch)."""
import gzip, json, os, struct, sys, time

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-10k")


def idx(name):
    with gzip.open(os.path.join(ROOT, name), "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    threads = int(os.environ.get("THREADS", "1"))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    xtr = idx("train-images-idx3-ubyte.gz").reshape(-1, 784).float() / 255
    ytr = idx("train-labels-idx1-ubyte.gz").long()
    xte = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).float() / 255
    yte = idx("t10k-labels-idx1-ubyte.gz").long()
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 10))
    # Match bench/wide_mlp.adj: he_normal, he_normal, glorot_uniform, zero biases.
    torch.nn.init.kaiming_normal_(model[0].weight)
    torch.nn.init.kaiming_normal_(model[2].weight)
    torch.nn.init.xavier_uniform_(model[4].weight)
    for m in (model[0], model[2], model[4]):
        torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    lossf = torch.nn.CrossEntropyLoss()
    batch = 128
    train_time = 0.0
    samples = 0
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
    print(json.dumps({"framework": "pytorch " + torch.__version__, "threads": threads,
                      "epochs": epochs, "test_loss": test_loss,
                      "metrics": {"accuracy": acc},
                      "samples_per_sec": samples / train_time}))


if __name__ == "__main__":
    main()
