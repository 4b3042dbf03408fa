"""polc.shared: code both the edge and the cloud import (codec, bitstream, config, data)."""

import warnings as _warnings

# compressai (imported by the codec) calls the deprecated torch.jit.script at import time.
_warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
