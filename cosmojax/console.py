"""Console output of the commands: library chatter off, errors and warnings kept."""

from __future__ import annotations

_QUIET = (  # library messages that say nothing actionable to a user of this project
    "custom data configuration",
    "has no dataset_info.json",
    "did not provide metrics",
    "read_only=True",
    "directory is read only",
    "FeatureConnector.dtype",
)


def quiet_logs():
    """Library INFO chatter (Orbax, TFDS) off; warnings and errors stay."""
    import logging

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("absl").addFilter(
        lambda r: not any(text in r.getMessage() for text in _QUIET)
    )
