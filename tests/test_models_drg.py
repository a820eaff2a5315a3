"""Paper 5 models (drg.py): DRGFER routing (assign/gather), RA-BN, gradient reversal / DANN, Mean/Max ensembles."""
import pytest
import torch
import torch.nn as nn

torch.set_num_threads(1)

from fer_lib.models.drg import (  # noqa: E402
    DRGFER, MRAFER, RABN, RRN, Ensemble, GradReverse, MultiBatchNorm2d, binarize, ensemble_max, ensemble_mean,
    gather, grad_reverse, make_dann, make_drgfer,
)
from fer_lib.models.resnet import resnet18  # noqa: E402

try:
    import hypothesis  # noqa: F401
    HAVE_HYPOTHESIS = True
except ImportError:
    HAVE_HYPOTHESIS = False


class TagBlock(nn.Module):
    """Output row = [image id (the constant pixel value), group k]: shows which image and which block made it."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        ids = x.flatten(1)[:, 0]
        return torch.stack([ids, torch.full_like(ids, float(self.k))], dim=1)


def _check_routing(batch_size, num_groups, groups):
    x = torch.arange(batch_size, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    mr = MRAFER(num_groups, TagBlock)
    parts = mr.assign(x, groups)
    assert len(parts) == num_groups
    assert sum(len(i) for i, _ in parts) == batch_size
    for k, (idx, sub) in enumerate(parts):
        assert torch.all(groups[idx] == k) and torch.equal(sub, x[idx])
    out = mr(x, groups)
    assert out.shape == (batch_size, 2)
    torch.testing.assert_close(out[:, 0], torch.arange(batch_size, dtype=torch.float32))  # prediction stays with image
    torch.testing.assert_close(out[:, 1], groups.float())  # made by the block of its group


def test_assign_gather_random_groupings():
    for seed in range(60):
        g = torch.Generator().manual_seed(seed)
        k = int(torch.randint(1, 6, (1,), generator=g))
        b = int(torch.randint(1, 10, (1,), generator=g))
        # draw from a random subset of the groups, so empty groups are frequent
        allowed = torch.randperm(k, generator=g)[: int(torch.randint(1, k + 1, (1,), generator=g))]
        groups = allowed[torch.randint(0, len(allowed), (b,), generator=g)]
        _check_routing(b, k, groups)


if HAVE_HYPOTHESIS:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=50, deadline=None)
    @given(st.integers(1, 5).flatmap(lambda k: st.tuples(st.just(k), st.lists(st.integers(0, k - 1), min_size=1,
                                                                                 max_size=9))))
    def test_assign_gather_hypothesis(kg):
        k, groups = kg
        _check_routing(len(groups), k, torch.tensor(groups))


def test_gather_rejects_bad_indices_and_is_differentiable():
    out = torch.randn(3, 2, requires_grad=True)
    with pytest.raises(ValueError):
        gather([out[:2], out[2:]], [torch.tensor([0, 1]), torch.tensor([1])], 3)  # 1 twice, 2 missing
    with pytest.raises(ValueError):
        gather([None, None], [torch.tensor([], dtype=torch.long)] * 2, 0)
    y = gather([out[:1], None, out[1:]], [torch.tensor([2]), torch.tensor([], dtype=torch.long), torch.tensor([0, 1])], 3)
    torch.testing.assert_close(y, out[[1, 2, 0]])
    y.sum().backward()
    assert out.grad is not None and torch.all(out.grad == 1)


def test_group_ids_as_binary_vectors():
    mr = MRAFER(3, TagBlock)
    x = torch.arange(4, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    onehot = binarize(torch.tensor([[0.1, 2.0, 0.3], [5.0, 1, 1], [0, 0, 9], [0, 3, 1]]))
    assert torch.equal(onehot.sum(1), torch.ones(4))
    torch.testing.assert_close(mr(x, onehot)[:, 1], torch.tensor([1.0, 0, 2, 1]))
    with pytest.raises(ValueError):
        mr(x, torch.tensor([0, 1, 3, 0]))


@pytest.fixture(scope="module")
def small_drg():
    torch.manual_seed(0)
    rrn = RRN(factors=(1, 2, 4))
    mrafer = MRAFER(3, lambda k: resnet18(7))
    return DRGFER(rrn, mrafer).eval()


def test_drgfer_oracle_routing_equals_blocks(small_drg):
    x = torch.randn(6, 1, 48, 48)
    groups = torch.tensor([2, 0, 2, 2, 0, 0])  # group 1 empty
    with torch.no_grad():
        out = small_drg(x, groups=groups)
        assert out.shape == (6, 7)
        for k, block in enumerate(small_drg.mrafer.blocks):
            sel = groups == k
            if sel.any():
                torch.testing.assert_close(out[sel], block(x[sel]), atol=1e-5, rtol=1e-5)
    assert torch.equal(small_drg.last_groups, groups)


def test_drgfer_rrn_routing(small_drg):
    x = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        routed = small_drg.rrn(x).argmax(1)
        torch.testing.assert_close(small_drg(x), small_drg(x, groups=routed))
    assert torch.equal(small_drg.last_groups, routed)
    assert small_drg.rrn(x).shape == (4, 3) and small_drg.rrn.predict(x).shape == (4,)


def test_drgfer_rafdb_100():
    m = make_drgfer(num_classes=7, in_chans=3).eval()
    assert len(m.mrafer.blocks) == 5 and m.rrn.factors == (1, 2, 4, 6, 8)
    with torch.no_grad():
        assert m(torch.randn(2, 3, 100, 100)).shape == (2, 7)
    n = sum(p.numel() for p in m.parameters())
    print(f"DRGFER (RRN + 5 ResNet18 blocks, RGB): {n:,d} parameters")
    assert 60e6 < n < 75e6


# ---------------------------------------------------------------- RA-BN

def test_rabn_every_bn_is_multi():
    m = RABN(num_classes=7, num_resolutions=3)
    multis = [l for l in m.modules() if isinstance(l, MultiBatchNorm2d)]
    assert len(multis) == 20  # stem + 2 per BasicBlock x 8 + 3 downsample shortcuts
    n_bn = sum(isinstance(l, nn.BatchNorm2d) for l in m.modules())
    assert n_bn == 20 * 3  # no plain BatchNorm left outside the parallel sets


def test_rabn_selects_bn_by_index():
    torch.manual_seed(0)
    m = RABN(num_classes=7, num_resolutions=3)
    x = torch.randn(4, 1, 48, 48)
    m.train()
    m(x, 2)
    for mb in (l for l in m.modules() if isinstance(l, MultiBatchNorm2d)):
        assert mb.index == 2
        assert [int(bn.num_batches_tracked) for bn in mb.bns] == [0, 0, 1]  # only BN #2 saw the batch
    m.eval()
    with torch.no_grad():
        out0, out1, out2 = m(x, 0), m(x, 1), m(x, 2)
        assert not torch.allclose(out0, out2)  # BN #2 has different running stats now
        torch.testing.assert_close(out0, out1)  # untouched BNs 0 and 1 are identical
        mixed = torch.tensor([2, 0, 2, 1])
        out_mixed = m(x, mixed)
        ref = torch.stack([out2[0], out0[1], out2[2], out1[3]])
        torch.testing.assert_close(out_mixed, ref, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        m(x, 3)


# ---------------------------------------------------------------- gradient reversal / DANN

@pytest.mark.parametrize("lambd", [1.0, 0.3])
def test_grad_reverse_flips_sign(lambd):
    x = torch.randn(3, 5, requires_grad=True)
    w = torch.randn(3, 5)
    y = GradReverse(lambd)(x)
    torch.testing.assert_close(y, x)
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, -lambd * w)
    x2 = torch.randn(3, 5, requires_grad=True)
    (grad_reverse(x2, 2.0) * w).sum().backward()
    torch.testing.assert_close(x2.grad, -2.0 * w)


def test_dann_outputs_and_reversed_feature_gradient():
    m = make_dann(num_classes=7, num_domains=5).eval()
    x = torch.randn(2, 1, 48, 48)
    cls, dom = m(x)
    assert cls.shape == (2, 7) and dom.shape == (2, 5)
    # domain loss: features receive -lambd x the plain gradient; the domain head itself gets the plain gradient
    from fer_lib.models.drg import DANN
    torch.manual_seed(0)
    fe, head, dh = nn.Linear(6, 4), nn.Linear(4, 3), nn.Linear(4, 2)
    d = DANN(fe, head, dh, lambd=0.5)
    z = torch.randn(5, 6)
    d(z)[1].sum().backward()
    g_rev, g_head = fe.weight.grad.clone(), dh.weight.grad.clone()
    fe.zero_grad()
    dh.zero_grad()
    dh(fe(z)).sum().backward()
    torch.testing.assert_close(g_rev, -0.5 * fe.weight.grad)
    torch.testing.assert_close(g_head, dh.weight.grad)
    d.lambd = 2.0
    assert d.grl.lambd == 2.0


# ---------------------------------------------------------------- Mean / Max ensembles

def test_ensembles():
    torch.manual_seed(0)
    models = [nn.Sequential(nn.Flatten(), nn.Linear(16, 7)) for _ in range(3)]
    x = torch.randn(4, 1, 4, 4)
    probs = torch.stack([m(x).softmax(1) for m in models])
    logits = torch.stack([m(x) for m in models])
    torch.testing.assert_close(ensemble_mean(models, x), probs.mean(0))
    torch.testing.assert_close(ensemble_max(models, x), probs.max(0).values)
    torch.testing.assert_close(ensemble_mean(models, x, use_softmax=False), logits.mean(0))
    torch.testing.assert_close(ensemble_max(models, x, use_softmax=False), logits.max(0).values)
    torch.testing.assert_close(ensemble_mean(models, x).sum(1), torch.ones(4))
    torch.testing.assert_close(Ensemble(models, "max")(x), probs.max(0).values)
    with pytest.raises(ValueError):
        Ensemble(models, "median")


def test_rrn_shapes_100():
    m = RRN(in_chans=3).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, 100, 100)).shape == (2, 5)


def test_init_from_imagenet_fills_every_resnet18_and_refuses_a_missing_file(tmp_path):
    """Paper 5's open choice of initial weights (a reading): ImageNet ResNet18 into the RRN, RA-BN (each parallel
    BN) and DANN; grey stem = sum of the RGB kernels; the classifier keeps its fresh init."""
    import torchvision

    from fer_lib.models.drg import RABN, RRN, imagenet_resnet18_file, init_from_imagenet, make_dann
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    f = tmp_path / "r18.pth"
    torch.save(sd, f)
    assert imagenet_resnet18_file(str(f)) == f and imagenet_resnet18_file("none") is None
    rabn = init_from_imagenet(RABN(7, 5), str(f))
    for j in range(5):
        torch.testing.assert_close(rabn.net.layer3[1].bn2.bns[j].weight, sd["layer3.1.bn2.weight"])
    torch.testing.assert_close(rabn.net.conv1.weight, sd["conv1.weight"].sum(1, keepdim=True))
    assert rabn.net.fc.weight.shape == (7, 512)
    dann = init_from_imagenet(make_dann(7, 2), str(f))
    torch.testing.assert_close(dann.feature_extractor.layer4[0].conv1.weight, sd["layer4.0.conv1.weight"])
    rrn = init_from_imagenet(RRN(), str(f))
    torch.testing.assert_close(rrn.net.layer1[0].bn1.running_mean, sd["layer1.0.bn1.running_mean"])
    with pytest.raises(FileNotFoundError, match="no ImageNet ResNet18 weights"):
        init_from_imagenet(RRN(), str(tmp_path / "absent.pth"))
