"""fer_lib — the helper library of the FER reproduction study (five papers, one engine).

Where things live (shared machinery apart from each paper's own code):
- core/     the engine and what every paper shares: train (fit / evaluate, checkpoints), train_config, packed,
            augment, degrade (resolution degradation and its batch_fns), metrics, io (atomic writes), datapack, paths
- data/     one loader per dataset (all return FaceDataset), splits, audit, cache, synthetic data
- models/   one file per family and the registry: create_model(name, **kw), model_version(name)
- runs/     runs as data: RunSpec + key, the store of records, plans, hooks, executors, the campaign
- papers/   paper N's code in one place: pN_<name>.py (readings, run plan per profile, hooks, analyses) and its
            topic modules (p1_superres, p2_convergence, p5_resolution); protocol.py (notebook 06's common recipe)
- study/    claims (+ paper_claims.yaml), claims_audit, verdict, results, summary, plots, notebook (the notebook
            helper), report (HTML export)
- entry points: reproduce (`python -m fer_lib.reproduce`), campaign (`python -m fer_lib.campaign`), nbclean;
  realtime (`python -m fer_lib.realtime`), realtime_bench, engines, speed, testmedia (paper 3's real-time pipeline:
  detection + tracking, classifier engines, the fps bench, synthetic clips); saliency (paper 4's saliency maps)
"""
__version__ = "0.1.0"
