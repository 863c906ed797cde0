"""Data layer: the CIL layout, the synthetic generator, the TFDS builder and the
tf.data input pipeline. ``cosmojax.data.layout`` and ``cosmojax.data.synthetic``
need no JAX or TensorFlow."""

import os

# TensorFlow only feeds data here: its C++ INFO logs and oneDNN notices say nothing
# to a user. Set on import of this package, before any module of it imports
# TensorFlow; settings of the user's own environment win.
TF_ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
for _name, _value in TF_ENV_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
