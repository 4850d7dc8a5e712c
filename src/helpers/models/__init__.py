"""Models: BTYD, reference rules, GBDT, cross-fitting, ZILN, the deep model, tuning, fusion."""
