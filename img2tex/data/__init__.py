"""Datasets: the layouts users have, the packed format, and the torch input pipeline.

Modules, in import order (each imports only those above it):

- `split`: the `Split` protocol (a labelled split), split names, `ConcatSplit`;
- `folders`: readers of the folder layouts (im2latex-100k, processed, plain labels) -> `FolderSplit`;
- `packed`: the packed format (`write_packed`, `PackedSplit`, `pack_processed`);
- `packing`: any split packed once for training (`pack_split`, `img2tex pack`);
- `crohme`: CROHME's handwriting ground truth, in our token form (`read_crohme`);
- `layout`: detect a path's layout and open it (`open_split`, `formulas_of`);
- `dataset`: `SplitDataset`, a split as the network reads it (preprocessed images, token ids);
- `pipeline` (torch): bucketed batches and collation for training.

Names are imported from their module (``from img2tex.data.layout import open_split``); this
package re-exports nothing, so each name has one import path.
"""
