"""Rate-distortion evaluation: metrics, BD-rate, classic baselines, published anchors."""
