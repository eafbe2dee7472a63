"""ImageTransform: TFX's Transform, whose materialised examples carry the label vocabulary."""
