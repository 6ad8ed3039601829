"""Image datasets (registered in DATASETS): MVTec AD, VisA and the built-in texture benchmark."""
