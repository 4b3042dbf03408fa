"""polc.shared.models: every nn.Module polc runs, and the one weight-file format.

    codec/     RDCCodec and its parts (g_a, g_s, h_a, h_s, gain units, enhancement branch)
    vision/    the pixel-domain models: SmallResNet (teacher) and the FCOS pixel detector
    adapters/  the POLC latent stem and the compressed-domain classifier / detector
    weights_file.py   save_weights / load_weights: tagged, tensor-only files (weights_only)

Models are composed from parts passed into their constructors (torchvision detection style);
training recipes live in ``polc.training``, serving runners in ``polc.cloud``.
"""
