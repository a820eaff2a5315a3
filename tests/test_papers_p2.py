"""Paper 2's run plan (fer_lib.papers.p2_transfer): the full plan holds Table 1's recipe, ≥ 3 seeds for every arm
and ablation, and runs the ResNet50 arms only when ImageNet weights load (a user file or the torch hub cache)."""
import types

import pytest
import torch
import torchvision

from fer_lib.claims import claim
from fer_lib.models import transfer
from fer_lib.models.transfer import ResNet50Transfer, imagenet_weights_file
from fer_lib.papers import p2_transfer as P


@pytest.fixture
def no_hub_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("w") / "my_resnet50.pth"
    torch.manual_seed(3)
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), f)
    return f


def test_full_plan_holds_table_1_and_three_seeds_everywhere(no_hub_weights):
    specs = P.plan("full")
    assert specs and all(s.notebook == "02" and s.paper == "p2" for s in specs)
    for s in specs:
        c = s.config
        assert c["lr"] == claim("p2", "Table 1", "Learning Rate", "Value") == 1e-4
        assert c["epochs"] == claim("p2", "Table 1", "Epoch", "Value") == 60
        assert c["batch_size"] == claim("p2", "Table 1", "Batch Size", "Value") == 32
        assert c["betas"] == [0.9, 0.999] and c["optimizer"] == "adam" and c["max_batches"] is None
        assert s.dataset == "fer2013" and s.cap == {}
        if s.arm.startswith("ablation: class weights"):
            assert c["class_weights"] in ("inverse", None)
        else:
            assert c["class_weights"] == [claim("p2", "text §3", "loss class weights", f"w[{i}]") for i in range(7)]
        if "random split" in s.arm or s.arm.startswith("ablation"):
            assert s.split == {"kind": "random", "fractions": [0.8, 0.2], "names": ["train", "test"], "seed": 0}
            assert s.val == ("test",) and s.evaluate[0]["split"] == "test"   # the 20 % is val and test
    arms = {}
    for s in specs:
        arms.setdefault(s.arm, set()).add(s.seed)
    assert all(len(seeds) >= 3 for seeds in arms.values()), arms
    assert {"ablation: class weights · inverse frequency", "ablation: class weights · none",
            "ablation: batch norm · Vanilla CNN without BN",
            "ablation: batch norm · Residual block + CNN without BN"} <= set(arms)
    nobn = next(s for s in specs if s.arm == "ablation: batch norm · Vanilla CNN without BN")
    assert nobn.model_kw["batch_norm"] is False


def test_no_imagenet_weights_no_resnet50_runs_in_full(no_hub_weights):
    assert not any(s.model == "ResNet50Transfer" for s in P.plan("full"))
    assert P.not_run("full") == {"Table 2 · ResNet50 + CNN · random split": P.NOT_RUN_NO_WEIGHTS,
                                 "Table 2 · ResNet50 + CNN · official split": P.NOT_RUN_NO_WEIGHTS}
    assert P.NOT_RUN_NO_WEIGHTS == "not run — no ImageNet weights"
    # smoke and cpu keep the random-backbone run as a pipeline check (recorded pretrained: false)
    assert any(s.model == "ResNet50Transfer" and s.model_kw["pretrained"] is None for s in P.plan("cpu"))


def test_user_supplied_or_cached_weights_plan_the_transfer_arms(no_hub_weights, weights_file):
    specs = [s for s in P.plan("full", resnet_weights=str(weights_file)) if s.model == "ResNet50Transfer"]
    assert len(specs) == 6 and P.not_run("full", resnet_weights=str(weights_file)) == {}
    assert all(s.model_kw["pretrained"] == str(weights_file) for s in specs)
    assert all({"name": "p2.require_pretrained", "kw": {}} in s.hooks for s in specs)
    assert all(s.config["mean"] == 0.449 and s.config["std"] == 0.226 for s in specs)
    # torchvision's file in the torch hub cache counts too
    (no_hub_weights / "checkpoints").mkdir(parents=True)
    (no_hub_weights / "checkpoints" / transfer.IMAGENET_FILE).symlink_to(weights_file)
    assert imagenet_weights_file("imagenet") is not None
    assert any(s.model_kw.get("pretrained") == "imagenet" for s in P.plan("full"))


def test_weights_path_loads_into_the_model_and_the_hook_refuses_random(weights_file):
    m = ResNet50Transfer(pretrained=str(weights_file))
    sd = torch.load(weights_file, weights_only=True)
    assert m.pretrained and weights_file.name in m.pretrained_note
    torch.testing.assert_close(m.backbone.conv1.weight, sd["conv1.weight"].sum(1, keepdim=True))
    with pytest.warns(RuntimeWarning):
        missing = ResNet50Transfer(pretrained="/nowhere/resnet50.pth")
    assert not missing.pretrained and "does not exist" in missing.pretrained_note
    ctx = types.SimpleNamespace(spec=types.SimpleNamespace(label="02 · x · seed 0"))
    check = P.require_pretrained(ctx)
    assert check(m) is m
    with pytest.raises(RuntimeError, match="did not load"):
        check(missing)


def test_readings_are_named():
    src = P.sources("full")
    for k in ("augment", "select", "resnet_norm", "split_seed", "seeds", "convergence_margin", "convergence_window"):
        assert src[k].startswith("reading"), k
    for k in ("lr", "epochs", "batch_size", "class_weights"):
        assert src[k].startswith("paper"), k
    assert P.sources("cpu")["epochs"] == "budget (cpu profile)"
    with pytest.raises(ValueError, match="unknown parameter"):
        P.plan("full", learning_rate=1)
