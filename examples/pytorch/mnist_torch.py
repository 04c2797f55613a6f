"""The manual's `mnist_torch.py`, made self-contained: a small CNN on MNIST-shaped data.

No download is possible on a cluster without internet, so the digits are synthetic: each
class is a fixed random 28x28 pattern plus noise, which a CNN learns in a few steps.
"""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.fc1 = nn.Linear(16 * 12 * 12, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return F.log_softmax(self.fc2(x), dim=1)


def synthetic_mnist(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    prototypes = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 10, (n,), generator=gen)
    images = prototypes[labels] + 0.3 * torch.randn(n, 1, 28, 28, generator=gen)
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description="MNIST-shaped CNN training (CPU)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    x_test, y_test = synthetic_mnist(256, gen)
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        x, y = synthetic_mnist(640, gen)
        model.train()
        for i in range(0, len(x), args.batch_size):
            opt.zero_grad()
            loss = F.nll_loss(model(x[i:i + args.batch_size]), y[i:i + args.batch_size])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"Train Epoch: {epoch} loss: {loss.item():.4f} test accuracy: {acc:.3f}", flush=True)
    print(f"done in {time.time() - t0:.1f}s, final accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
