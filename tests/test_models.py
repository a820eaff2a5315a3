"""Models of papers 1-4 (cnn, resnet, stn, edsr, pipeline, transfer, sdl): shapes, inits, switches. Never trains."""
import pytest
import torch
import torch.nn as nn
import torchvision

torch.set_num_threads(1)

from fer_lib.models import transfer  # noqa: E402
from fer_lib.models.cnn import ResidualCNN, VanillaCNN, ZhaoCNN, ZhaoVGG, gaussian_weights_init  # noqa: E402
from fer_lib.models.edsr import EDSR, load_from_lower_scale  # noqa: E402
from fer_lib.models.pipeline import VARIANTS, STNSRClassifier, variant  # noqa: E402
from fer_lib.models.resnet import resnet18  # noqa: E402
from fer_lib.models.sdl import SpatialDeepLearning, sdl_weights_init  # noqa: E402
from fer_lib.models.stn import STN, STNClassifier  # noqa: E402
from fer_lib.models.transfer import L2NormAffine, ResNet50Transfer, grey_conv_from_rgb  # noqa: E402


def n_params(m: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad or not trainable)


@pytest.fixture
def x48():
    torch.manual_seed(0)
    return torch.randn(2, 1, 48, 48)


# Loose parameter ranges at 48x48 grey, 7 classes (printed with -s).
PARAM_RANGES = {
    "ZhaoCNN": (lambda: ZhaoCNN(), 40e6, 45e6),
    "ZhaoVGG": (lambda: ZhaoVGG(), 38e6, 43e6),
    "VanillaCNN": (lambda: VanillaCNN(), 1.5e6, 2.0e6),
    "ResidualCNN": (lambda: ResidualCNN(), 0.7e6, 1.1e6),
    "resnet18": (lambda: resnet18(7), 11.0e6, 11.3e6),
    "STN": (lambda: STN(1, 48), 15e3, 30e3),
    "STNClassifier(MNIST)": (lambda: STNClassifier(), 20e3, 35e3),
    "EDSR x2": (lambda: EDSR(2), 5.3e6, 5.6e6),
    "EDSR x4": (lambda: EDSR(4), 5.9e6, 6.2e6),
    "ResNet50Transfer": (lambda: ResNet50Transfer(pretrained=None), 27e6, 30e6),
    "SpatialDeepLearning": (lambda: SpatialDeepLearning(), 0.8e6, 1.2e6),
    "SDL light CNN": (lambda: SpatialDeepLearning(baseline_branch_only=True), 0.3e6, 0.5e6),
}


@pytest.mark.parametrize("name", list(PARAM_RANGES))
def test_param_counts(name):
    make, lo, hi = PARAM_RANGES[name]
    n = n_params(make())
    print(f"{name}: {n:,d} parameters")
    assert lo <= n <= hi


# ---------------------------------------------------------------- paper 3: Zhao CNN / VGG, gaussian init

def test_zhao_cnn_shape_and_flatten(x48):
    m = ZhaoCNN().eval()
    assert m(x48).shape == (2, 7)
    linears = [l for l in m.classifier if isinstance(l, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(9216, 4096), (4096, 1024), (1024, 256), (256, 7)]
    drops = [l.p for l in m.classifier if isinstance(l, nn.Dropout)]
    assert drops == [0.2, 0.5]
    assert [c.out_channels for c in m.features if isinstance(c, nn.Conv2d)] == [64, 128, 256]


def test_zhao_vgg_shape_and_blocks(x48):
    m = ZhaoVGG().eval()
    assert m(x48).shape == (2, 7)
    assert [c.out_channels for c in m.features if isinstance(c, nn.Conv2d)] == [32, 32, 64, 64, 64, 128, 128, 128]
    assert sum(isinstance(l, nn.MaxPool2d) for l in m.features) == 3
    assert sum(isinstance(l, nn.BatchNorm2d) for l in m.features) == 8
    linears = [l for l in m.classifier if isinstance(l, nn.Linear)]
    assert [l.out_features for l in linears] == [4096, 4096, 1024, 256, 7]
    assert linears[0].in_features == 128 * 6 * 6


def test_gaussian_weights_init_touches_only_convs():
    torch.manual_seed(0)
    m = ZhaoCNN(init_std=None)
    lin_before = [l.weight.clone() for l in m.modules() if isinstance(l, nn.Linear)]
    gaussian_weights_init(m, std=0.04)
    conv3 = [c for c in m.modules() if isinstance(c, nn.Conv2d)][-1]
    assert abs(conv3.weight.std().item() - 0.04) < 0.002 and abs(conv3.weight.mean().item()) < 0.001
    for l, w in zip([l for l in m.modules() if isinstance(l, nn.Linear)], lin_before):
        assert torch.equal(l.weight, w)
    for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


@pytest.mark.parametrize("cls", [VanillaCNN, ResidualCNN])
@pytest.mark.parametrize("bn", [True, False])
def test_paper2_cnn_baselines(cls, bn, x48):
    m = cls(batch_norm=bn).eval()
    assert m(x48).shape == (2, 7)
    has_bn = any(isinstance(l, nn.BatchNorm2d) for l in m.modules())
    assert has_bn == bn
    # without BN every conv carries its own bias
    assert all((c.bias is None) == bn for c in m.modules() if isinstance(c, nn.Conv2d))


def test_residual_cnn_is_simpler_and_residual():
    assert n_params(ResidualCNN()) < n_params(VanillaCNN())
    assert sum(type(l).__name__ == "_ResidualBlock" for l in ResidualCNN().modules()) == 2


# ---------------------------------------------------------------- resnet18 (papers 3, 5)

def test_resnet18_stems(x48):
    m = resnet18(7).eval()
    assert m.conv1.in_channels == 1 and m.conv1.kernel_size == (7, 7) and isinstance(m.maxpool, nn.MaxPool2d)
    assert m(x48).shape == (2, 7)
    s = resnet18(7, small_input=True).eval()
    assert s.conv1.kernel_size == (3, 3) and s.conv1.stride == (1, 1) and isinstance(s.maxpool, nn.Identity)
    assert s(x48).shape == (2, 7)
    rgb = resnet18(8, in_chans=3).eval()
    assert rgb(torch.randn(2, 3, 100, 100)).shape == (2, 8)


# ---------------------------------------------------------------- STN (paper 1 §4.2, paper 4)

def test_stn_identity_init_returns_input(x48):
    stn = STN(1, 48)
    assert torch.equal(stn.fc_theta.weight, torch.zeros_like(stn.fc_theta.weight))
    y = stn(x48)
    assert y.shape == x48.shape
    torch.testing.assert_close(y, x48, atol=1e-5, rtol=1e-5)
    ident = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(2, 2, 3)
    torch.testing.assert_close(stn.last_theta, ident)
    # feature maps with many channels, non-square, three loc conv parts (paper 4's form)
    f = torch.randn(3, 16, 24, 20)
    stn3 = STN(16, (24, 20), loc_channels=(8, 10, 10), loc_kernels=3, loc_padding=1)
    torch.testing.assert_close(stn3(f), f, atol=1e-5, rtol=1e-5)


def test_stn_theta_gets_gradient(x48):
    stn = STN(1, 48)
    stn(x48).pow(2).sum().backward()
    assert stn.fc_theta.weight.grad is not None and stn.fc_theta.weight.grad.abs().sum() > 0


def test_stn_classifier_switch():
    x = torch.randn(2, 1, 28, 28)
    on, off = STNClassifier(use_stn=True).eval(), STNClassifier(use_stn=False).eval()
    assert on(x).shape == off(x).shape == (2, 10)
    assert on.stn is not None and off.stn is None
    assert on.classifier[0].in_features == 320  # the tutorial's 20*4*4
    assert STNClassifier(num_classes=7, image_size=48).eval()(torch.randn(2, 1, 48, 48)).shape == (2, 7)


# ---------------------------------------------------------------- EDSR (paper 1 §3.2)

@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_shapes(scale):
    m = EDSR(scale, n_resblocks=2, n_feats=16)
    y = m(torch.randn(2, 1, 12, 12))
    assert y.shape == (2, 1, 12 * scale, 12 * scale)
    assert not any(isinstance(l, nn.BatchNorm2d) for l in m.modules())


def test_edsr_default_config():
    m = EDSR(2)
    assert len(m.body) == 17 and m.head[0].out_channels == 128  # 16 resblocks + body conv, F = 128
    assert m.body[0].res_scale == 0.1
    assert m(torch.randn(1, 1, 8, 8)).shape == (1, 1, 16, 16)
    with pytest.raises(ValueError):
        EDSR(5)


def test_edsr_load_from_lower_scale():
    torch.manual_seed(0)
    x2, x4 = EDSR(2, n_resblocks=2, n_feats=16), EDSR(4, n_resblocks=2, n_feats=16)
    second_stage = x4.tail[0][2].weight.clone()
    copied = load_from_lower_scale(x4, x2)
    for name in ("head.0.weight", "body.0.body.0.weight", "body.2.weight", "tail.0.0.weight", "tail.0.0.bias",
                 "tail.1.weight"):
        assert name in copied
    assert not any(n.startswith("tail.0.2") for n in copied)
    s2, s4 = x2.state_dict(), x4.state_dict()
    for name in copied:
        assert torch.equal(s2[name], s4[name])
    assert torch.equal(x4.tail[0][2].weight, second_stage)


# ---------------------------------------------------------------- pipeline (paper 1 Table 2)

def _small_sr():
    return EDSR(2, n_resblocks=1, n_feats=8)


@pytest.mark.parametrize("name", VARIANTS)
def test_pipeline_variants(name, x48):
    m = variant(name, sr=_small_sr()).eval()
    assert (m.stn is not None) == ("STN" in name) and (m.sr is not None) == ("SR" in name)
    assert isinstance(m.classifier, torchvision.models.ResNet)
    assert m(x48).shape == (2, 7)
    size = 96 if "SR" in name else 48
    assert m.preprocess(x48).shape == (2, 1, size, size)


def test_pipeline_defaults_and_bad_name():
    m = variant("Base+STN+SR")
    assert isinstance(m.sr, EDSR) and isinstance(m.stn, STN) and m.sr.scale == 2
    with pytest.raises(ValueError):
        variant("Base+GAN")
    custom = VanillaCNN(image_size=48)
    assert variant("Base", classifier=custom).classifier is custom


def test_pipeline_sr_frozen_blocks_grads(x48):
    m = variant("Base+STN+SR", sr=_small_sr(), sr_frozen=True)
    m.train()
    assert m.training and not m.sr.training and m.stn.training
    assert all(not p.requires_grad for p in m.sr.parameters())
    m(x48).sum().backward()
    assert all(p.grad is None for p in m.sr.parameters())
    assert m.stn.fc_theta.weight.grad is not None  # the gradient flows through the frozen SR to the STN
    assert m.classifier.fc.weight.grad is not None
    # SR alone frozen (no STN): still no SR grads, classifier trains
    m2 = STNSRClassifier(resnet18(7), sr=_small_sr(), sr_frozen=True).train()
    m2(x48).sum().backward()
    assert all(p.grad is None for p in m2.sr.parameters()) and m2.classifier.fc.weight.grad is not None
    # not frozen: SR gets grads
    m3 = STNSRClassifier(resnet18(7), sr=_small_sr(), sr_frozen=False).train()
    m3(x48).sum().backward()
    assert all(p.grad is not None for p in m3.sr.parameters())


# ---------------------------------------------------------------- paper 2: ResNet50 transfer

@pytest.fixture(scope="module")
def r50():
    torch.manual_seed(0)
    return ResNet50Transfer(pretrained=None)


def test_transfer_shape_and_resolution(r50, x48):
    r50.eval()
    assert r50(x48).shape == (2, 7)
    with torch.no_grad():
        fmap = r50.backbone(x48)
    assert fmap.shape == (2, 2048, 3, 3)  # stem max-pool removed: 48 -> 24 -> 24 -> 12 -> 6 -> 3
    assert isinstance(r50.backbone.maxpool, nn.Identity)
    assert r50.refine(fmap).shape == (2, 128, 1, 1)  # the paper's "1x1x128 feature cube"
    assert r50.backbone.conv1.in_channels == 1
    allpools = ResNet50Transfer(pretrained=None, keep_pools=transfer.DOWNSAMPLERS).eval()
    with torch.no_grad():
        assert allpools.backbone(x48).shape[-2:] == (2, 2)
    with pytest.raises(ValueError):
        ResNet50Transfer(pretrained=None, keep_pools=("avgpool",))


def test_transfer_frozen_backbone_no_grad_head_grad(r50, x48):
    r50.train()
    assert not r50.backbone.training and r50.head.training  # frozen BN stays in eval mode
    bn_mean = r50.backbone.bn1.running_mean.clone()
    r50.zero_grad(set_to_none=True)
    r50(x48).sum().backward()
    assert all(not p.requires_grad and p.grad is None for p in r50.backbone.parameters())
    for part in (r50.refine, r50.norm, r50.head):
        assert all(p.grad is not None for p in part.parameters())
    assert torch.equal(r50.backbone.bn1.running_mean, bn_mean)


def test_transfer_unfreeze():
    m = ResNet50Transfer(pretrained=None, freeze_backbone=False).train()
    assert m.backbone.training and all(p.requires_grad for p in m.backbone.parameters())
    m.set_backbone_frozen(True)
    assert not m.backbone.training and not any(p.requires_grad for p in m.backbone.parameters())


def test_grey_conv_equals_channel_sum():
    torch.manual_seed(0)
    rgb = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
    grey = grey_conv_from_rgb(rgb)
    torch.testing.assert_close(grey.weight, rgb.weight.sum(1, keepdim=True))
    g = torch.randn(2, 1, 20, 20)
    torch.testing.assert_close(grey(g), rgb(g.repeat(1, 3, 1, 1)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grey_conv_from_rgb(rgb, "mean").weight, rgb.weight.mean(1, keepdim=True))


def test_transfer_pretrained_fallback_records_false(monkeypatch):
    def no_network():
        raise OSError("no internet in the test")

    monkeypatch.setattr(transfer, "_load_imagenet_state_dict", no_network)
    with pytest.warns(RuntimeWarning):
        m = ResNet50Transfer(pretrained="imagenet")
    assert m.pretrained is False
    assert "no internet in the test" in m.pretrained_note and "random" in m.pretrained_note


def test_transfer_pretrained_success_path(monkeypatch):
    torch.manual_seed(1)
    sd = torchvision.models.resnet50(weights=None).state_dict()
    monkeypatch.setattr(transfer, "_load_imagenet_state_dict", lambda: sd)
    m = ResNet50Transfer(pretrained="imagenet")
    assert m.pretrained is True
    torch.testing.assert_close(m.backbone.conv1.weight, sd["conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(m.backbone.layer4[2].conv3.weight, sd["layer4.2.conv3.weight"])


def test_l2_norm_affine():
    torch.manual_seed(0)
    v = torch.randn(4, 128) * 5
    layer = L2NormAffine(128)
    torch.testing.assert_close(layer(v).norm(dim=1), torch.ones(4))  # gamma = 1, beta = 0 at init
    with torch.no_grad():
        layer.gamma.uniform_(0.5, 2)
        layer.beta.normal_()
    vn = layer.normalize(v)
    torch.testing.assert_close(vn.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(layer(v), layer.gamma * vn + layer.beta)


def test_transfer_features_normalised(r50, x48):
    r50.eval()
    with torch.no_grad():
        f = r50.features(x48)
    assert f.shape == (2, 128)
    torch.testing.assert_close(r50.norm.normalize(f).norm(dim=1), torch.ones(2))
    linears = [l for l in r50.head if isinstance(l, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(128, 128), (128, 64), (64, 7)]


# ---------------------------------------------------------------- paper 4: spatial deep learning

def test_sdl_shapes_and_fc_names(x48):
    m = SpatialDeepLearning().eval()
    assert m(x48).shape == (2, 7)
    assert isinstance(m.fc1, nn.Linear) and isinstance(m.fc2, nn.Linear)
    assert m.fc1.in_features == 128 * 3 * 3 + 32 * 12 * 12 and m.fc2.out_features == 7
    assert sum(isinstance(l, nn.Conv2d) for l in m.baseline) == 4
    assert sum(isinstance(l, nn.Conv2d) for l in m.sdl1.stn.localization) == 3
    assert sum(isinstance(l, nn.Linear) for l in m.sdl1.stn.fc_loc) == 2
    # identity-initialised transformers: SDL-1 sees the input unchanged
    torch.testing.assert_close(m.last_stn_images, x48, atol=1e-5, rtol=1e-5)
    assert m.last_stn_features.shape == (2, 16, 24, 24)


def test_sdl_light_cnn(x48):
    m = SpatialDeepLearning(baseline_branch_only=True).eval()
    assert m(x48).shape == (2, 7)
    assert m.sdl1 is None and m.sdl2 is None and m.last_stn_images is None
    assert m.fc1.in_features == 128 * 3 * 3
    assert not any(isinstance(l, STN) for l in m.modules())


def test_sdl_weights_init():
    torch.manual_seed(0)
    m = SpatialDeepLearning(init_std=None)
    sdl_weights_init(m, std=0.05)
    assert abs(m.fc1.weight.std().item() - 0.05) < 0.002
    assert torch.all(m.fc1.bias == 0)
    for stn in (m.sdl1.stn, m.sdl2.stn):  # theta regressors back at the identity
        assert torch.all(stn.fc_theta.weight == 0)
        torch.testing.assert_close(stn.fc_theta.bias, torch.tensor([1.0, 0, 0, 0, 1, 0]))


# Issue 8 ablation: baseline branch alone, + SDL-1, + SDL-1 + SDL-2.
SDL_FEATURES = {0: 128 * 3 * 3, 1: 128 * 3 * 3 + 16 * 24 * 24, 2: 128 * 3 * 3 + 32 * 12 * 12}


def present_sdl(m):
    return [s for s in (m.sdl1, m.sdl2) if s is not None]


@pytest.mark.parametrize("k", [0, 1, 2])
def test_sdl_modules_shapes_and_stn_identity(k, x48):
    m = SpatialDeepLearning(sdl_modules=k).eval()
    assert m.sdl_modules == k and m.baseline_branch_only == (k == 0)
    assert len(present_sdl(m)) == k and (m.sdl2 is None) == (k < 2)
    assert m(x48).shape == (2, 7) and m.fc1.in_features == SDL_FEATURES[k]
    # Each present transformer starts at the identity: it passes its own input (image or SDL-1 maps) unchanged.
    inp = x48
    with torch.no_grad():
        for sdl in present_sdl(m):
            torch.testing.assert_close(sdl.stn(inp), inp, atol=1e-5, rtol=1e-5)
            assert torch.all(sdl.stn.fc_theta.weight == 0)
            inp = sdl(inp)
    assert (m.last_stn_images is None) == (k == 0) and (m.last_stn_features is None) == (k < 2)


def test_sdl_modules_param_counts():
    ms = {k: SpatialDeepLearning(sdl_modules=k) for k in (0, 1, 2)}
    # Each module adds its own STN + conv; fc1 follows the joined width, and SDL-1 alone joins 16x24x24 maps,
    # more than SDL-2's 32x12x12, so its fc1 (and its total) is larger than the full model's.
    branch = {k: sum(p.numel() for n, p in m.named_parameters() if not n.startswith("fc1.")) for k, m in ms.items()}
    assert branch[0] < branch[1] < branch[2]
    for k, m in ms.items():
        assert n_params(m) == branch[k] + 128 * (SDL_FEATURES[k] + 1)
    assert n_params(ms[0]) < n_params(ms[2]) < n_params(ms[1])


@pytest.mark.parametrize("bad", [3, -1, True, "2"])
def test_sdl_modules_bad_values(bad):
    with pytest.raises(ValueError, match="sdl_modules"):
        SpatialDeepLearning(sdl_modules=bad)


def test_sdl_modules_old_switch_and_checkpoint_keys():
    old = SpatialDeepLearning(baseline_branch_only=True)
    assert old.sdl_modules == 0
    assert list(old.state_dict()) == list(SpatialDeepLearning(sdl_modules=0).state_dict())
    with pytest.raises(ValueError, match="sdl_modules"):  # the old switch cannot mean one module
        SpatialDeepLearning(baseline_branch_only=True, sdl_modules=1)
    # The default (2 modules) keeps the keys of checkpoints saved before the switch existed.
    sdl = ([f"stn.localization.{i}.{w}" for i in (0, 3, 6) for w in ("weight", "bias")]
           + [f"stn.fc_loc.{i}.{w}" for i in (0, 2) for w in ("weight", "bias")] + ["features.0.weight", "features.0.bias"])
    expected = ([f"baseline.{i}.{w}" for i in (0, 3, 6, 9) for w in ("weight", "bias")]
                + [f"sdl1.{k}" for k in sdl] + [f"sdl2.{k}" for k in sdl]
                + ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
    for m in (SpatialDeepLearning(), SpatialDeepLearning(sdl_modules=2)):
        assert list(m.state_dict()) == expected and m.fc1.weight.shape == (128, 5760)


# ---------------------------------------------------------------- the registry (create_model, model_version)
import json  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from fer_lib.models import create_model, model_version, registry  # noqa: E402

SNAPSHOT = Path(__file__).parent / "data" / "model_signatures.json"


def test_registry_builds_what_the_classes_build():
    torch.manual_seed(0)
    a = create_model("ZhaoVGG", num_classes=5, init_std=None)
    torch.manual_seed(0)
    b = ZhaoVGG(num_classes=5, init_std=None)
    assert type(a) is ZhaoVGG and all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                                          b.state_dict().values()))
    assert isinstance(create_model("Base+STN"), STNSRClassifier) and create_model("Base+STN").stn is not None
    p = create_model("Pipeline:Base+SR", classifier="SmallCNN", classifier_kw={"widths": [8, 16]},
                     sr_kw={"n_resblocks": 1, "n_feats": 8}, sr_frozen=True)
    assert p.sr.scale == 2 and p.sr_frozen and p(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    assert create_model("STN-MNIST").stn is not None                           # alias
    r = create_model("resnet18", init_std=0.04)                                 # paper 3's Gaussian conv init
    assert abs(r.layer1[0].conv1.weight.std().item() - 0.04) < 0.004


def test_registry_errors_name_the_model_and_the_argument():
    with pytest.raises(ValueError, match="unknown model 'NoSuchNet'.*ZhaoCNN"):
        create_model("NoSuchNet")
    with pytest.raises(TypeError, match="create_model\\('ZhaoCNN'\\).*widths"):
        create_model("ZhaoCNN", widths=3)


def test_model_version_names_every_class_an_entry_builds():
    assert model_version("ZhaoCNN") == "ZhaoCNN=1"
    assert model_version("DRGFER") == "DRGFER=1,MRAFER=1,RRN=1,resnet18=1"
    assert model_version("Pipeline:Base+STN+SR").startswith("Pipeline=") and "EDSR=" in model_version("Base+STN+SR")
    for name in registry.MODELS:   # every part has a VERSIONS number beside its class
        assert model_version(name)


def test_parameter_shapes_match_the_snapshot_under_each_version():
    """Fails when a model's parameter shapes change but its VERSIONS number did not: stored runs would go stale."""
    problems = registry.snapshot_problems(json.loads(SNAPSHOT.read_text()), registry.snapshot())
    assert not problems, "\n".join(problems)


def test_a_shape_change_under_the_same_version_is_caught(monkeypatch):
    stored = registry.snapshot(["ZhaoCNN", "SmallCNN"])
    wider = replace(registry.MODELS["ZhaoCNN"], probe={"fc_dims": (2048, 1024, 256)})
    monkeypatch.setitem(registry.MODELS, "ZhaoCNN", wider)
    problems = registry.snapshot_problems(stored, registry.snapshot(["ZhaoCNN", "SmallCNN"]))
    assert len(problems) == 1 and "bump VERSION of ZhaoCNN" in problems[0] and "fer_lib/models/cnn.py" in problems[0]
    monkeypatch.setitem(registry._VERSIONS, "ZhaoCNN", (2, "fer_lib/models/cnn.py"))   # bumped: only stale now
    problems = registry.snapshot_problems(stored, registry.snapshot(["ZhaoCNN"]))
    assert len(problems) == 1 and "snapshot is stale" in problems[0] and "bump" not in problems[0]
