"""Fine-tuning: training-pair assembly, cosine-band hard-negative mining, MNRL training and the
regression gate. Plain modules, usable without Kedro."""
