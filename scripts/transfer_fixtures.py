#!/usr/bin/python3
"""Writes the PyTorch interchange fixtures of tests/fixtures/transfer/ (run
by hand with Debian's python3-torch after building adjc:
`/usr/bin/python3 scripts/transfer_fixtures.py build/bin/adjc`); the tests
read them, so CI needs no PyTorch.

TorchNet (conv2d -> batch_norm -> relu -> max_pool2d -> linear -> relu ->
linear, 3 classes on 8x8 images) is trained in PyTorch for a few steps on a
seeded synthetic task (so the batch-norm statistics and num_batches_tracked
are not their initial values), then evaluated in eval mode. Written:

  torch_net.safetensors   its state_dict, by scripts/torch_to_safetensors.py
  train_x.npy, train_y.npy, test_x.npy, test_y.npy   the data (f32, int32)
  torch_logits.npy        the eval-mode logits of test_x (f32 [32, 3])
  reference.json          "torch_test_loss": the eval-mode cross entropy on
                          the test split; and the reverse direction below

The reverse direction: adjc fine-tunes torch_net.adj from
torch_net.safetensors (--init-from) for one epoch and saves
adjoint_tuned.safetensors; adjc evaluates it (--load --eval-only --report);
the checkpoint is converted with torch_to_safetensors.to_torch_state_dict and
loaded into TorchNet with load_state_dict(strict=True), and PyTorch evaluates
it. reference.json records both losses ("reverse": adjoint_test_loss,
torch_test_loss, strict_load), and the test checks that Adjoint's evaluation
of adjoint_tuned.safetensors still gives PyTorch's loss.

SeqNet (nn.Embedding -> nn.LSTM(batch_first=True) -> nn.Linear on the last
hidden state, 5 classes of token sequences) goes through the same, into
seq_* files and seq_reference.json, against seq_net.adj. `--seq` after the
adjc path writes only those.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_to_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "transfer")


class TorchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(64, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(h, 1))))


def task(n, gen):
    """Images whose class is the quadrant (of three) with the largest mean."""
    x = torch.randn(n, 1, 8, 8, generator=gen)
    y = torch.zeros(n, dtype=torch.int64)
    for i in range(n):
        x[i, 0, i % 3 * 2:i % 3 * 2 + 4, 2:6] += 1.0
        y[i] = i % 3
    return x, y


class SeqNet(nn.Module):
    """An embedding, an LSTM and a linear layer on the last hidden state."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 12, batch_first=True)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        hs, _ = self.lstm(self.embedding(x))
        return self.fc(hs[:, -1])


def seq_task(n, gen):
    """Token sequences whose class is their first token mod 5."""
    x = torch.randint(0, 20, (n, 6), generator=gen)
    return x, x[:, 0] % 5


def pretrain(model, x, y, lr, steps):
    """SGD with momentum 0.9 over `steps` batches of 8, in order."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for step in range(steps):
        b = slice(step * 8, step * 8 + 8)
        opt.zero_grad()
        F.cross_entropy(model(x[b]), y[b]).backward()
        opt.step()


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
        return logits, F.cross_entropy(logits, y).item()


def reverse_direction(adjc, model, weights, tuned, net, test_x, test_y):
    """adjc fine-tunes MODEL from WEIGHTS for an epoch into TUNED and
    evaluates it; PyTorch loads TUNED into NET with strict=True and
    evaluates it too. Returns both losses and whether the load was strict."""
    model_file = os.path.join(OUT, model)
    tuned = os.path.join(OUT, tuned)
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "r.json")
        subprocess.run([adjc, model_file, "--run", "--init-from",
                        os.path.join(OUT, weights), "--save", tuned,
                        "--quiet"], check=True)
        subprocess.run([adjc, model_file, "--run", "--load", tuned,
                        "--eval-only", "--quiet", "--report", report],
                       check=True)
        with open(report) as f:
            adjoint_loss = json.load(f)["test_loss"]
    tensors, metadata = torch_to_safetensors.load(tuned)
    twin = net()
    result = twin.load_state_dict(
        torch_to_safetensors.to_torch_state_dict(tensors, metadata),
        strict=True)
    strict_ok = not result.missing_keys and not result.unexpected_keys
    _, torch_tuned_loss = evaluate(twin, test_x, test_y)
    return {
        "adjoint_test_loss": adjoint_loss,
        "torch_test_loss": torch_tuned_loss,
        "strict_load": strict_ok,
        "relative_difference": abs(adjoint_loss - torch_tuned_loss) /
        abs(torch_tuned_loss),
    }


def write_reference(name, reference):
    """Writes REFERENCE as OUT/NAME (indented JSON and a newline) and
    prints it."""
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print(json.dumps(reference, indent=2))


def save_arrays(arrays, dtype):
    """Saves each (name, tensor) of ARRAYS as OUT/name.npy in DTYPE."""
    for name, t in arrays:
        np.save(os.path.join(OUT, name + ".npy"), t.numpy().astype(dtype))


def main():
    adjc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build",
                                                              "bin", "adjc")
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    train_x, train_y = task(48, gen)
    test_x, test_y = task(32, gen)
    model = TorchNet()
    pretrain(model, train_x, train_y, lr=0.05, steps=6)
    logits, loss = evaluate(model, test_x, test_y)

    os.makedirs(OUT, exist_ok=True)
    torch_to_safetensors.save(model.state_dict(),
                              os.path.join(OUT, "torch_net.safetensors"),
                              {"format": "pt"})
    save_arrays((("train_x", train_x), ("test_x", test_x),
                 ("torch_logits", logits)), "<f4")
    save_arrays((("train_y", train_y), ("test_y", test_y)), "<i4")

    reference = {
        "torch_version": torch.__version__,
        "torch_test_loss": loss,
        "num_batches_tracked": int(model.bn1.num_batches_tracked),
        "reverse": reverse_direction(
            adjc, "torch_net.adj", "torch_net.safetensors",
            "adjoint_tuned.safetensors", TorchNet, test_x, test_y),
    }
    write_reference("reference.json", reference)


def seq_main(adjc):
    """The same both ways for SeqNet (nn.LSTM): seq_* files and
    seq_reference.json."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    train_x, train_y = seq_task(64, gen)
    test_x, test_y = seq_task(32, gen)
    model = SeqNet()
    pretrain(model, train_x, train_y, lr=0.1, steps=8)
    logits, loss = evaluate(model, test_x, test_y)
    weights = os.path.join(OUT, "seq_net.safetensors")
    torch_to_safetensors.save(model.state_dict(), weights, {"format": "pt"})
    save_arrays((("seq_train_x", train_x), ("seq_test_x", test_x),
                 ("seq_train_y", train_y), ("seq_test_y", test_y)), "<i4")
    save_arrays((("seq_torch_logits", logits),), "<f4")
    reference = {
        "torch_version": torch.__version__,
        "torch_test_loss": loss,
        "reverse": reverse_direction(
            adjc, "seq_net.adj", "seq_net.safetensors",
            "seq_adjoint_tuned.safetensors", SeqNet, test_x, test_y),
    }
    write_reference("seq_reference.json", reference)


if __name__ == "__main__":
    if "--seq" in sys.argv:
        seq_main(sys.argv[1])
    else:
        main()
        seq_main(sys.argv[1] if len(sys.argv) > 1 else
                 os.path.join(ROOT, "build", "bin", "adjc"))
