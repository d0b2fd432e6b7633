#!/usr/bin/env python3
"""Export a torchvision ImageNet backbone to ONNX for deep-covid, on a machine with internet access.

    python3 scripts/export-torchvision.py resnet18 [--out DIR]

Writes DIR/<name>.onnx (opset 13, input "input" [N,3,224,224], output "logits", dynamic batch), the
way torchvision models are normally exported, and prints its sha256. deep-covid finds the pooled
feature and the feature map inside the graph by structure, so nothing else is needed: put the file in
$DEEP_COVID_MODELS (or pass it with --model). Needs torch and torchvision; downloads the ImageNet
weights through torchvision's own weight cache.
"""
import argparse
import hashlib
import os

import torch
import torchvision

WEIGHTS = {
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "densenet121": "DenseNet121_Weights.IMAGENET1K_V1",
    "squeezenet1_1": "SqueezeNet1_1_Weights.IMAGENET1K_V1",
    "mobilenet_v2": "MobileNet_V2_Weights.IMAGENET1K_V1",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(WEIGHTS))
    ap.add_argument("--out", default=os.environ.get("DEEP_COVID_MODELS", "."))
    args = ap.parse_args()
    enum_name, member = WEIGHTS[args.name].split(".")
    weights = getattr(getattr(torchvision.models, enum_name), member)
    model = getattr(torchvision.models, args.name)(weights=weights).eval()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{args.name}.onnx")
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), tmp, opset_version=13, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    os.replace(tmp, path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"{path}\nsha256 {digest}")


if __name__ == "__main__":
    main()
