"""Stage 07: from study to use (scoring, segments, actions, recommendations, checks)."""
