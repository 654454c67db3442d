"""What the PyTorch twins of the bench models share: the MNIST IDX loader,
the MLP builder with Adjoint's initialisers, and the timed training loops
that print one JSON object like adjc's --report (samples/s counts the
training loop only). Run with Debian's /usr/bin/python3 (python3-torch)."""
import gzip, json, os, struct, time

import torch

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-10k")


def idx(name):
    """An IDX file of data/mnist-10k as a uint8 tensor."""
    with gzip.open(os.path.join(MNIST, name), "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def mnist(shape=(784,), test_limit=None):
    """(x_train, y_train, x_test, y_test) with pixels scaled to [0, 1], each
    image of `shape` ((1, 28, 28) for a CNN); the first `test_limit` test
    samples only when given."""
    xte = idx("t10k-images-idx3-ubyte.gz")[:test_limit]
    return (idx("train-images-idx3-ubyte.gz").reshape(-1, *shape).float() / 255,
            idx("train-labels-idx1-ubyte.gz").long(),
            xte.reshape(-1, *shape).float() / 255,
            idx("t10k-labels-idx1-ubyte.gz")[:test_limit].long())


def text(path, seq, offset=0, start=0.0, end=1.0):
    """The windows of Adjoint's text(path, seq, offset, start, end) data
    source as an int64 tensor [K, seq]: the bytes [a, b) of the file, a =
    floor(start * L), b = floor(end * L), cut into K = (b - a - 1) // seq
    windows, window k the seq bytes from a + k * seq + offset."""
    with open(path, "rb") as f:
        data = f.read()
    a, b = int(start * len(data)), int(end * len(data))
    k = (b - a - 1) // seq
    t = torch.frombuffer(bytearray(data[a + offset:a + offset + k * seq]), dtype=torch.uint8)
    return t.reshape(k, seq).long()


def mlp(sizes, act, inits):
    """Linear layers of `sizes` with `act` between them; inits[i] initialises
    layer i's weight in place; biases are zero."""
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        inits[i](lin.weight)
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i + 2 < len(sizes):
            layers.append(act())
    return torch.nn.Sequential(*layers)


def train_and_report(model, opt, data, batch, epochs):
    """Trains with shuffled batches, evaluates on the test split and prints
    the JSON report."""
    threads = int(os.environ.get("THREADS", "1"))
    torch.set_num_threads(threads)
    xtr, ytr, xte, yte = data
    lossf = torch.nn.CrossEntropyLoss()
    train_time, samples = 0.0, 0
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


def train_steps_and_report(model, opt, data, batch, steps, warmup=3):
    """Trains `warmup` untimed steps (oneDNN creates its primitives on the
    first calls, as Adjoint compiles before training), then `steps` timed
    ones on shuffled batches (epochs wrap around), evaluates in eval mode
    on the test split and prints the JSON report."""
    threads = int(os.environ.get("THREADS", "1"))
    torch.set_num_threads(threads)
    xtr, ytr, xte, yte = data
    lossf = torch.nn.CrossEntropyLoss()
    model.train()

    def batches():
        while True:
            perm = torch.randperm(len(xtr))
            for i in range(0, len(xtr) - batch + 1, batch):
                yield perm[i:i + batch]

    it = batches()

    def loss_of(logits, y):
        return lossf(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def step(idxs):
        opt.zero_grad()
        loss = loss_of(model(xtr[idxs]), ytr[idxs])
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step(next(it))
    samples, t0 = 0, time.perf_counter()
    for _ in range(steps):
        idxs = next(it)
        loss = step(idxs)
        samples += len(idxs)
    train_time = time.perf_counter() - t0
    train_loss = loss.item()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(xte[i:i + batch]) for i in range(0, len(xte), batch)])
        acc = (logits.argmax(-1) == yte).float().mean().item()
        test_loss = loss_of(logits, yte).item()
    print(json.dumps({"framework": "pytorch " + torch.__version__, "threads": threads,
                      "steps": steps, "warmup_steps": warmup, "train_loss": train_loss,
                      "test_loss": test_loss, "metrics": {"accuracy": acc},
                      "samples_per_sec": samples / train_time}))
