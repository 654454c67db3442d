#!/usr/bin/python3
"""PyTorch twins of bench/conv.sh's workloads, printing a JSON report like
adjc's --report (samples/s of the training loop only; THREADS in the
environment). Usage:
  conv_torch.py data DIR          writes DIR/x1.npy [2048,1,28,28] and
                                  DIR/x2.npy [2048,32,14,14] (seed 0)
  conv_torch.py conv1 DIR EPOCHS  mean(conv2d(x1, w 32x1x5x5, 'same'))
  conv_torch.py conv2 DIR EPOCHS  mean(conv2d(x2 * s, w 64x32x5x5, 'same'))
  conv_torch.py cnn EPOCHS        examples/mnist_cnn.adj
  conv_torch.py tfcnn EPOCHS      bench/tf_cnn.adj
Each trains with Adam (lr 1e-3), batch 64, forward + backward + step."""
import json, os, sys, time

import numpy as np
import torch
import torch.nn.functional as F

from torch_common import mnist


def report(samples, seconds, extra):
    print(json.dumps(dict({"framework": "pytorch " + torch.__version__,
                           "threads": torch.get_num_threads(),
                           "samples_per_sec": samples / seconds}, **extra)))


def train(params, loss_of, x, y, epochs, batch=64):
    opt = torch.optim.Adam(params, lr=1e-3)
    seconds, samples = 0.0, 0
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_of(x[idx], None if y is None else y[idx])
            loss.backward()
            opt.step()
            samples += len(idx)
        seconds += time.perf_counter() - t0
    return samples, seconds


def main():
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    torch.manual_seed(0)
    mode = sys.argv[1]
    if mode == "data":
        rng = np.random.default_rng(0)
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, shape in (("x1", (2048, 1, 28, 28)), ("x2", (2048, 32, 14, 14))):
            np.save(os.path.join(sys.argv[2], name + ".npy"),
                    rng.standard_normal(shape, dtype=np.float32))
        return
    if mode in ("conv1", "conv2"):
        x = torch.from_numpy(np.load(os.path.join(sys.argv[2], mode.replace("conv", "x") + ".npy")))
        epochs = int(sys.argv[3])
        o, c = (32, 1) if mode == "conv1" else (64, 32)
        w = torch.nn.init.kaiming_normal_(torch.empty(o, c, 5, 5)).requires_grad_()
        s = torch.ones(c, 1, 1, requires_grad=True)
        if mode == "conv1":
            params, loss = [w], lambda xb, _: F.conv2d(xb, w, padding="same").mean()
        else:
            params, loss = [w, s], lambda xb, _: F.conv2d(xb * s, w, padding="same").mean()
        report(*train(params, loss, x, None, epochs), {})
        return
    if mode == "tfcnn":
        return tf_cnn(int(sys.argv[2]))
    # mode == "cnn": the twin of examples/mnist_cnn.adj.
    init = torch.nn.init
    w1 = init.kaiming_normal_(torch.empty(8, 1, 3, 3)).requires_grad_()
    w2 = init.kaiming_normal_(torch.empty(16, 8, 3, 3)).requires_grad_()
    w3 = init.xavier_uniform_(torch.empty(10, 3136)).requires_grad_()
    b1, b2, b3 = (torch.zeros(n, requires_grad=True) for n in (8, 16, 10))

    def logits(xb):
        h = F.relu(F.conv2d(xb.reshape(-1, 1, 28, 28), w1, b1, padding="same"))
        h = F.relu(F.conv2d(h, w2, b2, stride=2, padding=1))
        return F.linear(h.reshape(-1, 3136), w3, b3)

    xtr, ytr, xte, yte = mnist()
    lossf = torch.nn.CrossEntropyLoss()
    samples, seconds = train([w1, b1, w2, b2, w3, b3],
                             lambda xb, yb: lossf(logits(xb), yb), xtr, ytr, int(sys.argv[2]))
    with torch.no_grad():
        acc = (logits(xte).argmax(1) == yte).float().mean().item()
    report(samples, seconds, {"metrics": {"accuracy": acc}})


def tf_cnn(epochs):
    """The twin of bench/tf_cnn.adj."""
    init = torch.nn.init
    w1 = init.kaiming_normal_(torch.empty(32, 1, 5, 5)).requires_grad_()
    w2 = init.kaiming_normal_(torch.empty(64, 32, 5, 5)).requires_grad_()
    w3 = init.kaiming_normal_(torch.empty(1024, 3136), nonlinearity="relu").requires_grad_()
    w4 = init.xavier_uniform_(torch.empty(10, 1024)).requires_grad_()
    b1, b2, b3, b4 = (torch.zeros(n, requires_grad=True) for n in (32, 64, 1024, 10))

    def logits(xb, train):
        h = F.max_pool2d(F.relu(F.conv2d(xb.reshape(-1, 1, 28, 28), w1, b1, padding="same")), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding="same")), 2)
        h = F.dropout(F.relu(F.linear(h.reshape(-1, 3136), w3, b3)), 0.4, train)
        return F.linear(h, w4, b4)

    xtr, ytr, xte, yte = mnist()
    lossf = torch.nn.CrossEntropyLoss()
    samples, seconds = train([w1, b1, w2, b2, w3, b3, w4, b4],
                             lambda xb, yb: lossf(logits(xb, True), yb), xtr, ytr, epochs)
    with torch.no_grad():
        acc = (logits(xte, False).argmax(1) == yte).float().mean().item()
    report(samples, seconds, {"metrics": {"accuracy": acc}})


if __name__ == "__main__":
    main()
