"""Evaluation: metrics, leaderboard and diagnostics, SHAP explanations."""
