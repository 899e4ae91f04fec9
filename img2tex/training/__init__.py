"""Training: configuration, the loop, several processes, and the run's record.

- `config`: `TrainConfig` and which of its fields a resumed run may change (torch-free);
- `distributed`: one process or several under torchrun (DDP over NCCL or gloo);
- `runlog`: log.jsonl and loss.png of a run folder;
- `trainer`: set-up, `train_one_epoch`, `validate`, checkpoints and `fit`.

Names are imported from their module; this package re-exports nothing.
"""
