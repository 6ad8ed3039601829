"""Image datasets (registered in DATASETS): MVTec AD, VisA and the built-in texture benchmark."""
from data.image import mvtec, textures, visa  # noqa: F401  (registration)
