"""The data layer: sources that read datasets into canonical rows, frozen patient-level splits,
and a decoded-pixel cache.

- `cxrbench.data.sources.get_source(name, root=None, **options)` → a `Source`
  (`phantom`, `chexpert`, `mimic`, `csv`);
- `cxrbench.data.splits`: `assign_splits`, `Split`, `split_rows`, fingerprints;
- `cxrbench.data.image_store.ImageStore`: decode once, memory-map afterwards;
- `cxrbench.data.preprocess.to_square`: the one resize/pad every image goes through.
"""
