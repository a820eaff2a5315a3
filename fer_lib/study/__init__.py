"""The study's side of the results: the papers' numbers (claims + paper_claims.yaml), their internal-consistency
audit (claims_audit), the one verdict policy (verdict), results files (results), the summary page (summary),
figures (plots), the notebook helper (notebook: nb = start(...)) and the HTML export of executed notebooks (report)."""
