"""Data layer: the CIL layout, the synthetic generator, the TFDS builder and the
tf.data input pipeline. ``cosmojax.data.layout`` and ``cosmojax.data.synthetic``
need no JAX or TensorFlow."""
