"""Motion representation: joint positions <-> HumanML3D-style features, normalisation, I/O."""
