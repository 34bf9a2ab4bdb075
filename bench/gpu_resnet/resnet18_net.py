"""ResNet-18 with random weights for the GPU benchmark (bench/gpu_resnet.ts): torchvision's
resnet18(weights=None) when torchvision is installed (nothing is downloaded), else the same
architecture built here from torch.nn (He et al. 2016, "Deep Residual Learning for Image
Recognition": a 7×7/2 stem, max pool, four stages of two BasicBlocks with 64, 128, 256, 512
channels, global average pool, a 1000-way linear layer; 11.7 M parameters either way).

The weights are seeded, so every replica and the direct baseline compute the same function. The
input is a batch of 3×64×64 images (12,288 floats each); at 64×64 the last stage sees 2×2 maps.
"""

CHANNELS = 3
SIDE = 64
ELEMENTS = CHANNELS * SIDE * SIDE  # 12,288 floats per image


def _hand_built(torch):
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(CHANNELS, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            stages = []
            inplanes = 64
            for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                stages.append(nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes, 1)))
                inplanes = planes
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet18()


def build(torch, seed=0):
    """(module in eval mode on the CPU, 'torchvision' | 'hand-built')."""
    torch.manual_seed(seed)
    try:
        import torchvision
        module, source = torchvision.models.resnet18(weights=None), 'torchvision'
    except ImportError:
        module, source = _hand_built(torch), 'hand-built'
    return module.eval(), source


def pick_device(torch, name):
    """'auto' → cuda when PyTorch sees a GPU, else cpu; 'cuda' without one is an error."""
    if name not in ('auto', 'cpu', 'cuda'):
        raise ValueError("device must be auto, cpu or cuda (got %r)" % (name,))
    if name == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('device cuda asked for, but torch.cuda.is_available() is False')
    return torch.device('cuda' if name == 'cuda' or (name == 'auto' and torch.cuda.is_available()) else 'cpu')


def prepare(torch, device_name='auto', threads=None):
    """The model ready to run: fp16 on CUDA, fp32 on the CPU. Returns (module, device, dtype, source)."""
    if threads is not None:
        torch.set_num_threads(threads)
    device = pick_device(torch, device_name)
    dtype = torch.float16 if device.type == 'cuda' else torch.float32
    module, source = build(torch)
    return module.to(device=device, dtype=dtype), device, dtype, source


def classify(torch, module, device, dtype, batch):
    """Class indices of a float32 numpy batch (n × 12,288): host → device, the forward pass, argmax back."""
    n = batch.shape[0]
    x = torch.from_numpy(batch).view(n, CHANNELS, SIDE, SIDE).to(device=device, dtype=dtype, non_blocking=True)
    with torch.inference_mode():
        return module(x).argmax(dim=1).cpu().numpy()
