"""Dataset loaders (HumanML3D, FineDance, AIST++, joints datasets), the training cache and the
window dataset the trainers read. See docs/data.md, "Dataset layouts and preparation"."""
