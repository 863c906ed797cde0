"""cosmojax: generating and scoring cosmology images with JAX/Flax.

Submodules are imported on use (``from cosmojax import sampling``), so that
importing the package stays cheap for the data tools, which need no JAX.
"""

__version__ = "0.1.0"
