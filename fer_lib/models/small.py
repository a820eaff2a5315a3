"""SmallCNN: the study's own reference model for the embedded synthetic data and the quickstart.

Not from any paper: three conv-BN-ReLU-maxpool blocks (32, 64, 128) and a linear classifier after global
average pooling — small enough to train in seconds on a 2-core CPU, so it shows that the engine learns.
"""
import torch.nn as nn

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"SmallCNN": 1}


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 7, in_chans: int = 1, widths: tuple[int, ...] = (32, 64, 128),
                 dropout: float = 0.2):
        super().__init__()
        layers, c = [], in_chans
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
