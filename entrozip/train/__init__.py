"""Training: `entrozip train image` (image.py), data sampling (data.py)."""
