#!/usr/bin/env python3
"""Measures the reference implementation's per-image costs on this machine, for bench/protocol.ts:
PyTorch/torchvision forward rate (eval, no_grad, batch 20) of each backbone, and the PIL decode +
Resize(224) + CenterCrop(224) + ToTensor + Normalize rate of the dev PNGs (the authors' transform).
Weights are random (speed does not depend on them). Prints one JSON object.

    /usr/bin/python3 bench/torch-reference.py DEV_SET_DIR [seconds]
"""
import json
import os
import sys
import time

import torch
import torchvision
from PIL import Image
from torchvision import transforms

torch.set_num_threads(os.cpu_count() or 1)
root = sys.argv[1]
budget = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0


def rate(fn, per_call):
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget:
        fn()
        n += per_call
    return n / (time.perf_counter() - t0)


out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads(), "forward_b20": {}}
x = torch.randn(20, 3, 224, 224)
for name in ["resnet18", "resnet50", "squeezenet1_1", "densenet121", "mobilenet_v2"]:
    model = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        out["forward_b20"][name] = rate(lambda: model(x), 20)

tf = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
files = []
for dirpath, _, names in os.walk(os.path.join(root, "train")):
    files += [os.path.join(dirpath, f) for f in sorted(names) if f.endswith(".png")]
files = files[:200]
i = [0]


def one():
    tf(Image.open(files[i[0] % len(files)]).convert("RGB"))
    i[0] += 1


out["decode_transform"] = rate(one, 1)
print(json.dumps(out))
