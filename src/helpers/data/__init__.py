"""Data layer: schema, loaders, dataset registry, split, EDA, the shop simulator."""
