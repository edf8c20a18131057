"""``training``: training pairs -> hard negatives -> reference + candidate fine-tunes -> evaluation ->
regression gate -> promotion (model + faiss index + MLflow). ``finetune`` chains it after the
upstream pipelines."""
