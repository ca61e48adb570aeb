"""The embedded default settings; see base.py. Production: yueqiqian.settings.production."""

from .base import *  # noqa: F403
