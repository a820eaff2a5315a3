"""Paper 1's run plan (fer_lib/papers/p1_wu_finch.py): the full plan holds what the paper states and names the rest
as readings; bicubic control arms; the SR arms need the EDSR x2 run; the cached frozen stage equals the live one."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fer_lib.data.synthetic import make_synthetic
from fer_lib.models import create_model
from fer_lib.models.pipeline import ARMS, CONTROLS, VARIANTS
from fer_lib.papers import p1_wu_finch as p1
from fer_lib.runs.hooks import HookContext, build
from fer_lib.runs.spec import RunSpec
from fer_lib.papers.p1_superres import CachedStage, save_weights


@pytest.fixture(scope="module")
def full():
    return p1.plan("full")


def _arm(specs, prefix):
    return [s for s in specs if s.arm.startswith(prefix)]


def test_full_plan_holds_the_papers_recipe(full):
    t2 = _arm(full, "Table 2")
    assert t2 and all(s.config["batch_size"] == 16 and s.config["lr"] == 1e-4 for s in t2)          # paper §4.2
    assert all(s.config["optimizer"] == "adam" and s.config["betas"] == [0.9, 0.999] and s.config["eps"] == 1e-8
               for s in t2)
    # lr x gamma every 2e5 minibatches, as whole epochs: FER2013 has 1,795 minibatches of 16 per epoch.
    fer = _arm(full, "Table 2 FER2013")
    assert {s.config["step_size"] for s in fer} == {round(200_000 / 1795)} and fer[0].config["scheduler"] == "step"
    assert {s.config["epochs"] for s in fer} == {60} and {s.config["select"] for s in fer} == {"val_acc"}
    ck = _arm(full, "Table 2 CK+ (subject-grouped")
    assert {s.config["epochs"] for s in ck} == {100}
    assert {s.split["fold"] for s in ck} == set(range(10))
    # Seeds: at least 3 for every Table 2 arm and for MNIST; EDSR once.
    for arm in {s.arm for s in t2 + _arm(full, "Figure 6")}:
        assert len({s.seed for s in full if s.arm == arm}) >= 3, arm
    edsr = _arm(full, "EDSR")
    assert [s.name for s in edsr] == ["edsr_x2_l1", "edsr_x4_l1", "edsr_x2_l2", "edsr_x4_l2"]
    for s in edsr:    # paper §3.2: B = 16, F = 128; fp32; EDSR's 3e5 minibatches (a reading)
        assert s.model_kw["n_resblocks"] == 16 and s.model_kw["n_feats"] == 128 and s.config["amp"] is False
        assert s.config["epochs"] * 1795 >= 300_000 and s.keep == ("weights16",)   # float16: <= 16 MiB a file
    assert _arm(full, "EDSR x4 L1")[0].needs == ("edsr_x2_l1",)
    assert _arm(full, "EDSR x4 L2")[0].needs == ("edsr_x2_l2",)


def test_sources_name_paper_and_readings():
    src = {k: d["source"] for k, d in p1.settings("full").items()}
    for k in ("batch_size", "lr", "betas", "eps", "lr_step_minibatches", "sr_blocks", "sr_feats"):
        assert src[k].startswith("paper"), k
    for k in ("lr_gamma", "epochs_fer", "epochs_ck", "classifier", "sr_minibatches", "sr_res_scale", "seeds",
              "ck_k", "augment", "mnist_lr", "controls", "sr_cache"):
        assert src[k].startswith("reading"), k
    assert src.pop("sr_weights").startswith("budget")   # how the EDSR weights travel, not part of the recipe
    assert all(s.startswith(("paper", "reading")) for s in src.values())
    assert p1.settings("cpu")["epochs_fer"]["source"] == "budget (cpu profile)"
    over = p1.settings("full", epochs_fer=5)["epochs_fer"]
    assert over["value"] == 5 and over["source"].startswith("override")
    with pytest.raises(ValueError, match="unknown parameter"):
        p1.plan("full", epochs=3)
    with pytest.raises(ValueError, match="sr_mode"):
        p1.plan("smoke", sr_mode="joint")


def test_schedule_never_fires_in_table2_but_does_in_edsr():
    s = p1.values("full")
    note = p1.schedule_note(s, 28_709, 60)
    assert "107,700 minibatches" in note and "never fires" in note
    assert "fires 1 time" in p1.schedule_note(s, 28_709, p1.sr_epochs(s, 28_709))


def test_arms_controls_paper_protocol_and_needs(full):
    fer_arms = {s.tags["row"] for s in _arm(full, "Table 2 FER2013")}
    assert fer_arms == set(ARMS) and set(CONTROLS) == {"Base+bicubic", "Base+STN+bicubic"}
    paper = _arm(full, "Table 2 CK+ (paper's protocol")
    assert {s.tags["row"] for s in paper} == set(VARIANTS)
    assert all(s.train == ("all",) and [v["split"] for v in s.evaluate] == ["all"] for s in paper)
    for s in _arm(full, "Table 2"):
        row = s.tags["row"]
        assert s.model == f"Pipeline:{row}"
        assert s.needs == (("edsr_x2_l1",) if row.endswith("SR") else ())
        cache = [h["kw"]["cache"] for h in s.hooks if h["name"] == "p1.sr_stage"]
        assert cache == ([] if row in ("Base", "Base+STN") else ["STN" not in row])
    assert all(s.tags.get("device") == "cpu" for s in _arm(full, "Figure 6"))
    # No controls when asked; the cpu profile runs the stage live.
    assert not any(s.tags.get("row") in CONTROLS for s in p1.plan("smoke", controls=False))
    assert all(not h["kw"]["cache"] for s in p1.plan("cpu") for h in s.hooks if h["name"] == "p1.sr_stage")


def test_campaign_lists_notebook_01():
    from fer_lib.runs.plans import import_plan_modules, plan_specs
    mods = import_plan_modules()
    assert "fer_lib.papers.p1_wu_finch" in mods
    specs = plan_specs({"p1": mods["fer_lib.papers.p1_wu_finch"]}, "full", only="01")
    assert len(specs) == len(p1.plan("full")) and all(isinstance(s, RunSpec) for s in specs)


def test_smoke_plan_resolves_with_needed_keys():
    from fer_lib.runs.plans import resolve
    planned = resolve(p1.plan("smoke"))
    assert all(p.key for p in planned), [p.error for p in planned if not p.key]
    keys = {p.spec.name: p.key for p in planned if p.spec.name}
    sr = [p for p in planned if p.spec.tags.get("row") == "Base+SR"]
    assert sr and all(p.needs_keys == {"edsr_x2_l1": keys["edsr_x2_l1"]} for p in sr)


@pytest.mark.parametrize("arm", ["Base+SR", "Base+bicubic", "Base+STN+SR"])
def test_sr_stage_hook_loads_weights_and_caches_only_without_stn(tmp_path, arm):
    ds = make_synthetic({"Training": 12, "PrivateTest": 4}, seed=5)
    spec = next(s for s in p1.plan("smoke") if s.tags.get("row") == arm and s.arm.startswith("Table 2 FER2013"))
    torch.manual_seed(0)
    edsr = create_model("EDSR", scale=2, **spec.model_kw.get("sr_kw", {"n_resblocks": 1, "n_feats": 8}))
    (tmp_path / "edsr").mkdir()
    torch.save(edsr.state_dict(), tmp_path / "edsr" / "weights.pt")     # the run store's artefact format
    data = SimpleNamespace(train=ds.take("Training"), val=None, views={"PrivateTest": ds.take("PrivateTest")},
                           fingerprint="test")
    ctx = HookContext(spec=spec, key="k", device=torch.device("cpu"), data=data,
                      artefacts={"edsr_x2_l1": tmp_path / "edsr"})
    (ref,) = spec.hooks
    kind, apply = build(ref, ctx)
    torch.manual_seed(1)
    live = create_model(spec.model, **spec.model_kw)
    if arm.endswith("SR"):
        live.sr.load_state_dict(edsr.state_dict())
    torch.manual_seed(1)
    model = apply(create_model(spec.model, **spec.model_kw))
    assert kind == "model" and isinstance(model.sr, CachedStage) == ("STN" not in arm)
    faces = torch.as_tensor(np.concatenate([data.train.images, data.views["PrivateTest"].images])).unsqueeze(1)
    x = (faces.float() / 255 - 0.5) / 0.5
    for view in (x, x.flip(-1)):       # as is and mirrored: both were cached
        torch.testing.assert_close(model.eval().preprocess(view), live.eval().preprocess(view), atol=1e-5, rtol=1e-5)


def test_weights_artefact_in_bf16_is_found_by_the_hook(tmp_path):
    spec = next(s for s in p1.plan("smoke") if s.tags.get("row") == "Base+STN+SR")
    edsr = create_model("EDSR", scale=2, **spec.model_kw["sr_kw"])
    save_weights(edsr, tmp_path / "weights.pt", key="abc")
    ctx = HookContext(spec=spec, key="k", device=torch.device("cpu"), artefacts={"edsr_x2_l1": tmp_path})
    model = build(spec.hooks[0], ctx)[1](create_model(spec.model, **spec.model_kw))
    w = edsr.state_dict()["head.0.weight"]
    torch.testing.assert_close(model.sr.state_dict()["head.0.weight"], w.to(torch.bfloat16).float())


# --------------------------------------------------------------------------------------- analyses (notebook 01)
from fer_lib.papers import p1_analysis as A   # noqa: E402

NAMES = dict(A.SMOKE_NAMES)


def _T(seeds=(0, 1)):
    """A Table 2 result dict as A.table2 returns it: accuracy per seed, every arm on FER2013 and CK+, the paper's
    four arms on the paper's protocol."""
    T = {}
    for i, arm in enumerate(ARMS):
        T[arm, "FER2013"] = [0.5 + 0.01 * i + 0.001 * s for s in seeds]
        T[arm, "CK+"] = [0.7 + 0.02 * i - 0.001 * s for s in seeds]
        if arm in VARIANTS:
            T[arm, "CK+ (paper's protocol)"] = [0.9 + 0.01 * i for _ in seeds]
    return T


def test_table1_claims_skip_the_papers_dashes_and_name_our_split():
    ck, fer = make_synthetic(**p1.SMOKE_DATA["ckplus"]), make_synthetic(**p1.SMOKE_DATA["fer2013"])
    t1 = A.table1(ck, fer)
    rows = A.table1_claims(t1, NAMES)
    cells = {(r["row"], r["column"]) for r in rows}
    assert ("neutral", "CK+ train") not in cells and ("neutral", "FER2013 train") in cells   # CK+ prints "-"
    n_paper = sum(not np.isnan(t1.loc[r, f"paper {c}"]) for r in t1.index for c in A.T1_COLUMNS)
    assert len(rows) == n_paper
    r = next(r for r in rows if r["row"] == "Total" and r["column"] == "FER2013 test")
    assert r["values"] == t1.loc["Total", "ours FER2013 PrivateTest"] and r["split"] == "FER2013 PrivateTest"
    assert r["unit"] == "count" and r["dataset"] == NAMES["FER2013"]
    note = A.data_note(ck, fer)
    assert "CK+ here: 140 labelled sequences" in note and "420 images = Training 280 + PublicTest 70" in note


def _edsr_runs():
    def rec(psnr, ssim, bic, best):
        return {"best_epoch": best, "metrics": {"p1.psnr_ssim": {
            "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)), "bicubic_psnr": bic, "bicubic_ssim": 0.5,
            "psnr_per_image": list(psnr), "ssim_per_image": list(ssim)}}}
    return {("l1", 2): (None, rec([30.0, 31.0, 32.0], [0.9, 0.9, 0.9], 29.0, 2)),
            ("l2", 2): (None, rec([29.0, 30.5, 31.0], [0.8, 0.9, 0.85], 29.0, 0)),
            ("l1", 4): (None, rec([25.0, 25.0, 25.0], [0.7, 0.7, 0.7], 24.0, 1)),
            ("l2", 4): (None, rec([25.0, 25.0, 25.0], [0.7, 0.7, 0.7], 24.0, 1))}


def test_edsr_table_pairs_l1_and_l2_per_face_and_judges_the_difference():
    table, pairs = A.edsr_table(_edsr_runs())
    assert list(table.method) == ["bicubic", "EDSR L1", "EDSR L2"] * 2
    x2 = table[table.scale == "x2"].set_index("method")
    assert x2.loc["EDSR L1", "PSNR gain over bicubic (dB)"] == pytest.approx(2.0)
    assert x2.loc["EDSR L1", "best epoch"] == 3                     # stored 0-based, shown 1-based
    assert pairs[2]["PSNR"]["mean"] == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    assert pairs[4]["PSNR"]["mean"] == 0
    v = A.l1_vs_l2(pairs, "cpu").set_index("scale")["verdict on 'L1 is better'"]
    assert v["x2"] == "holds here" and v["x4"] == "no difference resolved"
    assert set(A.l1_vs_l2(pairs, "smoke")["verdict on 'L1 is better'"]) == {"not judged (synthetic data)"}


def test_table2_claims_columns_seeds_and_notes():
    plan, s = p1.plan("smoke", seeds=[0, 1]), p1.values("smoke", seeds=[0, 1])
    T = _T()
    rows = A.table2_claims(T, plan, s, NAMES)
    assert len(rows) == len(T) and all(r["source"] == "Table 2" and r["pretrained"] is False for r in rows)
    pp = [r for r in rows if r["column"] == A.PP]
    assert {r["row"] for r in pp} == set(VARIANTS) and all(r["split"].startswith("train = test") for r in pp)
    fer = [r for r in rows if r["column"] == "FER2013"]
    assert all(r["config"] is not None and r["split"] == "PrivateTest" and "peak_frames" not in r["note"] for r in fer)
    ck = [r for r in rows if r["column"] == "CK+"]
    assert all(r["config"] is None and "subject-grouped" in r["split"] and "peak_frames=1" in r["note"] for r in ck)
    assert all(r["seeds"] == [0, 1] and r["dataset"] in NAMES.values() for r in rows)
    side = A.table2_side_by_side({k: v for k, v in T.items() if k != ("Base+bicubic", "CK+")})
    assert side.loc["Base+bicubic", "ours CK+"] == "—" and side.loc["Base", "paper CK+"] == 87.2


def test_control_and_gain_claims_are_paired_differences():
    plan, s = p1.plan("smoke", seeds=[0, 1]), p1.values("smoke", seeds=[0, 1])
    T = _T()
    rows, table = A.control_claims(T, plan, s, NAMES)
    assert len(rows) == len(table) == 4
    r = next(r for r in rows if r["row"] == "Base+SR vs Base+bicubic" and r["column"] == "FER2013 gain (pp)")
    np.testing.assert_allclose(r["values"], np.array(T["Base+SR", "FER2013"]) - np.array(T["Base+bicubic", "FER2013"]))
    del T["Base+STN+bicubic", "CK+"]                       # a control not run: its pair is left out
    assert len(A.control_claims(T, plan, s, NAMES)[0]) == 3
    gains = A.gain_claims(_T(), plan, s, NAMES)
    assert len(gains) == len(A.GAINS) * 2 + 2
    g = next(r for r in gains if r["row"] == "Base+STN vs Base" and r["column"] == "CK+ gain (pp)")
    np.testing.assert_allclose(g["values"], np.array(_T()["Base+STN", "CK+"]) - np.array(_T()["Base", "CK+"]))
    assert "split" not in g and g["seeds"] == [0, 1]        # the gains name no split (as before the move)


def test_stated_gains_recomputed_from_the_papers_table2():
    t = A.stated_gains()
    assert len(t) == 6 and t["matches"].sum() == 5     # §4.2's Base+SR vs Base+STN on FER2013 does not follow
    bad = t[~t["matches"]].iloc[0]
    assert (bad["gain"], bad["dataset"]) == ("Base+SR vs Base+STN", "FER2013")


def test_timings_and_headline():
    spec = SimpleNamespace(arm="EDSR x2 L1", seed=0)
    rec = {"epochs": 2, "train_seconds": 3.0, "hardware": "cpu",
           "history": {"columns": ["epoch", "img_per_s"], "rows": [[0, 10.0], [1, 20.0]]}}
    runs = SimpleNamespace(planned=[SimpleNamespace(spec=spec), SimpleNamespace(spec=spec)], records=[rec, None])
    t = A.timings(runs)
    assert len(t) == 1 and t.loc[0, "img/s"] == 15.0
    assert A.timings_by_run(t).loc["EDSR x2 L1", "train s"] == 3.0
    table, _ = A.edsr_table(_edsr_runs())
    lines = A.headline(_T(), table, {"stn": [0.99], "plain": [0.98]}, p1.values("smoke"), NAMES, "cpu", "never fires")
    assert lines[0].startswith("STN on synthetic (MNIST stand-in) (cpu): 99.00") and "5k-image" in lines[0]
    assert "EDSR L1 31.00 / 25.00" in lines[1] and lines[-1] == "lr schedule: never fires (Table 2, FER2013)"
    assert "(paper 87.2)" in lines[2]
